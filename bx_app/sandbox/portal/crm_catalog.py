"""Static CRM reference data of a sandbox portal: field metadata, statuses, stages, funnels."""
from __future__ import annotations

import copy

MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM")
UTM = ("UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM")


def _field(ftype: str, title: str, *, read_only: bool = False, multiple: bool = False, required: bool = False,
           status_type: str | None = None) -> dict:
    meta = {"type": ftype, "isRequired": required, "isReadOnly": read_only, "isImmutable": False,
            "isMultiple": multiple, "isDynamic": False, "title": title}
    if status_type:
        meta["statusType"] = status_type
    return meta


def _custom_field(code: str, ftype: str, label: str, *, items: list[dict] | None = None) -> dict:
    meta = {"type": ftype, "isRequired": False, "isReadOnly": False, "isImmutable": False, "isMultiple": False,
            "isDynamic": True, "title": code, "listLabel": label, "formLabel": label, "filterLabel": label}
    if items is not None:
        meta["items"] = items
    else:
        meta["settings"] = {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""}
    return meta


_MULTI_META = {
    "PHONE": _field("crm_multifield", "Телефон", multiple=True),
    "EMAIL": _field("crm_multifield", "E-mail", multiple=True),
    "WEB": _field("crm_multifield", "Сайт", multiple=True),
    "IM": _field("crm_multifield", "Мессенджер", multiple=True),
}
_UTM_META = {code: _field("string", code.replace("_", " ").title()) for code in UTM}

LEAD_FIELDS: dict[str, dict] = {
    "ID": _field("integer", "ID", read_only=True),
    "TITLE": _field("string", "Название лида"),
    "HONORIFIC": _field("crm_status", "Обращение", status_type="HONORIFIC"),
    "NAME": _field("string", "Имя"),
    "SECOND_NAME": _field("string", "Отчество"),
    "LAST_NAME": _field("string", "Фамилия"),
    "COMPANY_TITLE": _field("string", "Название компании"),
    "COMPANY_ID": _field("crm_company", "Компания"),
    "CONTACT_ID": _field("crm_contact", "Контакт"),
    "IS_RETURN_CUSTOMER": _field("char", "Повторный лид", read_only=True),
    "BIRTHDATE": _field("date", "Дата рождения"),
    "SOURCE_ID": _field("crm_status", "Источник", status_type="SOURCE"),
    "SOURCE_DESCRIPTION": _field("string", "Дополнительно об источнике"),
    "STATUS_ID": _field("crm_status", "Стадия", status_type="STATUS"),
    "STATUS_DESCRIPTION": _field("string", "Дополнительно о стадии"),
    "POST": _field("string", "Должность"),
    "COMMENTS": _field("string", "Комментарий"),
    "CURRENCY_ID": _field("crm_currency", "Валюта"),
    "OPPORTUNITY": _field("double", "Сумма"),
    "IS_MANUAL_OPPORTUNITY": _field("char", "Сумма заполнена вручную"),
    "HAS_PHONE": _field("char", "Задан телефон", read_only=True),
    "HAS_EMAIL": _field("char", "Задан e-mail", read_only=True),
    "HAS_IMOL": _field("char", "Задана открытая линия", read_only=True),
    "ASSIGNED_BY_ID": _field("user", "Ответственный"),
    "CREATED_BY_ID": _field("user", "Кем создан", read_only=True),
    "MODIFY_BY_ID": _field("user", "Кем изменён", read_only=True),
    "DATE_CREATE": _field("datetime", "Дата создания", read_only=True),
    "DATE_MODIFY": _field("datetime", "Дата изменения", read_only=True),
    "DATE_CLOSED": _field("datetime", "Дата закрытия", read_only=True),
    "STATUS_SEMANTIC_ID": _field("string", "Состояние статуса", read_only=True),
    "OPENED": _field("char", "Доступен для всех"),
    "ORIGINATOR_ID": _field("string", "Внешний источник"),
    "ORIGIN_ID": _field("string", "Идентификатор элемента во внешнем источнике"),
    "MOVED_BY_ID": _field("user", "Кем изменена стадия", read_only=True),
    "MOVED_TIME": _field("datetime", "Дата изменения стадии", read_only=True),
    "ADDRESS": _field("string", "Адрес"),
    **_UTM_META,
    "LAST_ACTIVITY_BY": _field("user", "Последняя активность от", read_only=True),
    "LAST_ACTIVITY_TIME": _field("datetime", "Последняя активность", read_only=True),
    **_MULTI_META,
}
LEAD_CUSTOM_FIELDS: dict[str, dict] = {
    "UF_CRM_UIS_CALL_ID": _custom_field("UF_CRM_UIS_CALL_ID", "string", "UIS: ID звонка"),
    "UF_CRM_1709112233": _custom_field("UF_CRM_1709112233", "enumeration", "Тип обращения", items=[
        {"ID": "61", "VALUE": "Звонок"}, {"ID": "62", "VALUE": "Чат"}, {"ID": "63", "VALUE": "Заявка с сайта"}]),
    "UF_CRM_1709112244": _custom_field("UF_CRM_1709112244", "string", "Город"),
}

DEAL_FIELDS: dict[str, dict] = {
    "ID": _field("integer", "ID", read_only=True),
    "TITLE": _field("string", "Название"),
    "TYPE_ID": _field("crm_status", "Тип", status_type="DEAL_TYPE"),
    "CATEGORY_ID": _field("crm_category", "Воронка"),
    "STAGE_ID": _field("crm_status", "Стадия сделки", status_type="DEAL_STAGE"),
    "STAGE_SEMANTIC_ID": _field("string", "Группа стадии", read_only=True),
    "IS_NEW": _field("char", "Новая сделка", read_only=True),
    "IS_RECURRING": _field("char", "Регулярная сделка"),
    "IS_RETURN_CUSTOMER": _field("char", "Повторная сделка", read_only=True),
    "IS_REPEATED_APPROACH": _field("char", "Повторное обращение", read_only=True),
    "PROBABILITY": _field("integer", "Вероятность"),
    "CURRENCY_ID": _field("crm_currency", "Валюта"),
    "OPPORTUNITY": _field("double", "Сумма"),
    "IS_MANUAL_OPPORTUNITY": _field("char", "Сумма заполнена вручную"),
    "TAX_VALUE": _field("double", "Ставка налога"),
    "COMPANY_ID": _field("crm_company", "Компания"),
    "CONTACT_ID": _field("crm_contact", "Контакт"),
    "CONTACT_IDS": _field("crm_contact", "Контакты", multiple=True),
    "BEGINDATE": _field("date", "Дата начала"),
    "CLOSEDATE": _field("date", "Дата завершения"),
    "OPENED": _field("char", "Доступна для всех"),
    "CLOSED": _field("char", "Сделка закрыта"),
    "COMMENTS": _field("string", "Комментарий"),
    "ASSIGNED_BY_ID": _field("user", "Ответственный"),
    "CREATED_BY_ID": _field("user", "Кем создана", read_only=True),
    "MODIFY_BY_ID": _field("user", "Кем изменена", read_only=True),
    "DATE_CREATE": _field("datetime", "Дата создания", read_only=True),
    "DATE_MODIFY": _field("datetime", "Дата изменения", read_only=True),
    "SOURCE_ID": _field("crm_status", "Источник", status_type="SOURCE"),
    "SOURCE_DESCRIPTION": _field("string", "Дополнительно об источнике"),
    "LEAD_ID": _field("crm_lead", "Лид", read_only=True),
    "ADDITIONAL_INFO": _field("string", "Дополнительная информация"),
    "ORIGINATOR_ID": _field("string", "Внешний источник"),
    "ORIGIN_ID": _field("string", "Идентификатор элемента во внешнем источнике"),
    "MOVED_BY_ID": _field("user", "Кем изменена стадия", read_only=True),
    "MOVED_TIME": _field("datetime", "Дата изменения стадии", read_only=True),
    **_UTM_META,
    "LAST_ACTIVITY_BY": _field("user", "Последняя активность от", read_only=True),
    "LAST_ACTIVITY_TIME": _field("datetime", "Последняя активность", read_only=True),
}
DEAL_CUSTOM_FIELDS: dict[str, dict] = {
    "UF_CRM_1709113301": _custom_field("UF_CRM_1709113301", "string", "UIS: комментарий"),
    "UF_CRM_1709113302": _custom_field("UF_CRM_1709113302", "enumeration", "Канал обращения", items=[
        {"ID": "71", "VALUE": "Телефон"}, {"ID": "72", "VALUE": "Чат"}, {"ID": "73", "VALUE": "Сайт"}]),
}

CONTACT_FIELDS: dict[str, dict] = {
    "ID": _field("integer", "ID", read_only=True),
    "HONORIFIC": _field("crm_status", "Обращение", status_type="HONORIFIC"),
    "NAME": _field("string", "Имя"),
    "SECOND_NAME": _field("string", "Отчество"),
    "LAST_NAME": _field("string", "Фамилия"),
    "BIRTHDATE": _field("date", "Дата рождения"),
    "TYPE_ID": _field("crm_status", "Тип контакта", status_type="CONTACT_TYPE"),
    "SOURCE_ID": _field("crm_status", "Источник", status_type="SOURCE"),
    "SOURCE_DESCRIPTION": _field("string", "Дополнительно об источнике"),
    "POST": _field("string", "Должность"),
    "COMMENTS": _field("string", "Комментарий"),
    "OPENED": _field("char", "Доступен для всех"),
    "EXPORT": _field("char", "Участвует в экспорте"),
    "HAS_PHONE": _field("char", "Задан телефон", read_only=True),
    "HAS_EMAIL": _field("char", "Задан e-mail", read_only=True),
    "HAS_IMOL": _field("char", "Задана открытая линия", read_only=True),
    "ASSIGNED_BY_ID": _field("user", "Ответственный"),
    "CREATED_BY_ID": _field("user", "Кем создан", read_only=True),
    "MODIFY_BY_ID": _field("user", "Кем изменён", read_only=True),
    "DATE_CREATE": _field("datetime", "Дата создания", read_only=True),
    "DATE_MODIFY": _field("datetime", "Дата изменения", read_only=True),
    "COMPANY_ID": _field("crm_company", "Компания"),
    "LEAD_ID": _field("crm_lead", "Лид", read_only=True),
    "ORIGINATOR_ID": _field("string", "Внешний источник"),
    "ORIGIN_ID": _field("string", "Идентификатор элемента во внешнем источнике"),
    **_UTM_META,
    **_MULTI_META,
}

# Defaults a freshly added record reads back with (crm_lead_get_list.json shows nulls and "" mixed).
LEAD_DEFAULTS = {
    "HONORIFIC": None, "SECOND_NAME": None, "COMPANY_TITLE": None, "COMPANY_ID": None, "CONTACT_ID": None,
    "IS_RETURN_CUSTOMER": "N", "BIRTHDATE": "", "SOURCE_DESCRIPTION": None, "STATUS_ID": "NEW",
    "STATUS_DESCRIPTION": None, "POST": None, "COMMENTS": None, "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00",
    "IS_MANUAL_OPPORTUNITY": "N", "HAS_PHONE": "N", "HAS_EMAIL": "N", "HAS_IMOL": "N", "DATE_CLOSED": "",
    "STATUS_SEMANTIC_ID": "P", "OPENED": "Y", "ORIGINATOR_ID": None, "ORIGIN_ID": None, "ADDRESS": None,
    "TITLE": None, "NAME": None, "LAST_NAME": None, "SOURCE_ID": None,
    **{code: None for code in UTM},
}
DEAL_DEFAULTS = {
    "TITLE": None, "TYPE_ID": "SALE", "CATEGORY_ID": "0", "STAGE_ID": "NEW", "STAGE_SEMANTIC_ID": "P", "IS_NEW": "Y",
    "IS_RECURRING": "N", "IS_RETURN_CUSTOMER": "N", "IS_REPEATED_APPROACH": "N", "PROBABILITY": None,
    "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00", "IS_MANUAL_OPPORTUNITY": "N", "TAX_VALUE": "0.00",
    "COMPANY_ID": "0", "CONTACT_ID": None, "BEGINDATE": "", "CLOSEDATE": "", "OPENED": "Y", "CLOSED": "N",
    "COMMENTS": None, "SOURCE_ID": None, "SOURCE_DESCRIPTION": None, "LEAD_ID": None, "ADDITIONAL_INFO": None,
    "ORIGINATOR_ID": None, "ORIGIN_ID": None, **{code: None for code in UTM},
}
CONTACT_DEFAULTS = {
    "HONORIFIC": None, "NAME": None, "SECOND_NAME": None, "LAST_NAME": None, "BIRTHDATE": "", "TYPE_ID": "CLIENT",
    "SOURCE_ID": None, "SOURCE_DESCRIPTION": None, "POST": None, "COMMENTS": None, "OPENED": "Y", "EXPORT": "Y",
    "HAS_PHONE": "N", "HAS_EMAIL": "N", "HAS_IMOL": "N", "COMPANY_ID": None, "LEAD_ID": None,
    "ORIGINATOR_ID": None, "ORIGIN_ID": None, **{code: None for code in UTM},
}

SOURCES = [
    ("CALL", "Звонок"), ("EMAIL", "Электронная почта"), ("WEB", "Веб-сайт"), ("ADVERTISING", "Реклама"),
    ("PARTNER", "Существующий клиент"), ("RECOMMENDATION", "По рекомендации"), ("TRADE_SHOW", "Выставка"),
    ("WEBFORM", "CRM-форма"), ("CALLBACK", "Обратный звонок"), ("RC_GENERATOR", "Генератор продаж"),
    ("STORE", "Интернет-магазин"), ("OTHER", "Другое"),
]
LEAD_STATUSES = [
    ("NEW", "Не обработан", "process", "#39A8EF"), ("IN_PROCESS", "В работе", "process", "#2FC6F6"),
    ("PROCESSED", "Обработан", "process", "#55D0E0"), ("JUNK", "Некачественный лид", "failure", "#FF5752"),
    ("CONVERTED", "Качественный лид", "success", "#7BD500"),
]
DEAL_STAGES = {
    0: [("NEW", "Новая", "process", "#39A8EF"), ("PREPARATION", "Подготовка документов", "process", "#2FC6F6"),
        ("PREPAYMENT_INVOICE", "Счёт на предоплату", "process", "#55D0E0"),
        ("EXECUTING", "В работе", "process", "#47E4C2"), ("FINAL_INVOICE", "Финальный счёт", "process", "#FFA900"),
        ("WON", "Сделка успешна", "success", "#7BD500"), ("LOSE", "Сделка провалена", "failure", "#FF5752"),
        ("APOLOGY", "Анализ причины провала", "failure", "#FF5752")],
    1: [("C1:NEW", "Заявка", "process", "#39A8EF"), ("C1:PREPARATION", "Подбор оборудования", "process", "#2FC6F6"),
        ("C1:EXECUTING", "Монтаж", "process", "#47E4C2"), ("C1:WON", "Отгружено", "success", "#7BD500"),
        ("C1:LOSE", "Сделка провалена", "failure", "#FF5752")],
    2: [("C2:NEW", "Новое обращение", "process", "#39A8EF"), ("C2:EXECUTING", "Выезд мастера", "process", "#47E4C2"),
        ("C2:WON", "Выполнено", "success", "#7BD500"), ("C2:LOSE", "Отказ", "failure", "#FF5752")],
}
CATEGORIES = [
    {"id": 1, "name": "Продажа оборудования", "sort": 200, "entityTypeId": 2, "isDefault": "N",
     "originId": "", "originatorId": ""},
    {"id": 2, "name": "Сервисное обслуживание", "sort": 250, "entityTypeId": 2, "isDefault": "N",
     "originId": "", "originatorId": ""},
    {"id": 0, "name": "Общая", "sort": 300, "entityTypeId": 2, "isDefault": "Y"},
]
_SEMANTIC_CODE = {"process": None, "success": "S", "failure": "F"}


def seed_statuses() -> list[dict]:
    rows: list[dict] = []
    next_id = 115
    for sort, (code, name) in enumerate(SOURCES, start=1):
        rows.append({"ID": str(next_id), "ENTITY_ID": "SOURCE", "STATUS_ID": code, "NAME": name, "NAME_INIT": "",
                     "SORT": str(sort * 10), "SYSTEM": "N", "CATEGORY_ID": None, "COLOR": None, "SEMANTICS": None})
        next_id += 1
    next_id = 1
    for sort, (code, name, semantics, color) in enumerate(LEAD_STATUSES, start=1):
        rows.append(_stage_row(next_id, "STATUS", code, name, sort, None, semantics, color))
        next_id += 1
    next_id = 201
    for category, stages in DEAL_STAGES.items():
        entity = "DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}"
        for sort, (code, name, semantics, color) in enumerate(stages, start=1):
            rows.append(_stage_row(next_id, entity, code, name, sort, str(category), semantics, color))
            next_id += 1
    return rows


def _stage_row(row_id: int, entity: str, code: str, name: str, sort: int, category: str | None,
               semantics: str, color: str) -> dict:
    return {"ID": str(row_id), "ENTITY_ID": entity, "STATUS_ID": code, "NAME": name, "NAME_INIT": name,
            "SORT": str(sort * 10), "SYSTEM": "Y", "CATEGORY_ID": category, "COLOR": color,
            "SEMANTICS": _SEMANTIC_CODE[semantics], "EXTRA": {"SEMANTICS": semantics, "COLOR": color}}


def fields_of(entity: str, required_custom: set[str]) -> dict:
    system, custom = {"lead": (LEAD_FIELDS, LEAD_CUSTOM_FIELDS), "deal": (DEAL_FIELDS, DEAL_CUSTOM_FIELDS),
                      "contact": (CONTACT_FIELDS, {})}[entity]
    result = copy.deepcopy(system)
    for code, meta in custom.items():
        meta = copy.deepcopy(meta)
        meta["isRequired"] = code in required_custom
        result[code] = meta
    return result
