"""Field mapping (G4): rows "UIS field → Bitrix24 field" checked against the synced field lists, and applied to facts.

    Row = {"uis_field": str, "entity": "lead" | "deal" | "contact", "b24_field": str,
           "value_map": {uis value: Bitrix24 value} | None}

`b24_fields` is ``{entity: crm.<entity>.fields result}`` (``{CODE: {type, isReadOnly, title, listLabel, items…}}``).
"""
from __future__ import annotations

from dataclasses import dataclass

from bx_app.integration import event_fields as ef
from bx_app.integration.words import Translate, russian

ENTITIES = ("lead", "deal", "contact")
MAX_ROWS = 50
# Bitrix24 field types a UIS value can go into, and the UIS field types that fit each.
_ANY = (ef.STRING, ef.NUMBER, ef.ID, ef.BOOL, ef.TAGS)
TYPE_FITS: dict[str, tuple[str, ...]] = {
    "string": _ANY,
    "url": (ef.STRING,),
    "integer": (ef.NUMBER, ef.ID),
    "double": (ef.NUMBER, ef.ID),
    "boolean": (ef.BOOL,),
    "char": (ef.BOOL,),
    "enumeration": _ANY,
    "crm_status": (ef.STRING, ef.ID, ef.NUMBER),
}
NEEDS_VALUE_MAP = ("enumeration",)
# Fields the integration fills itself: a mapping row must not fight it.
MANAGED = ("TITLE", "ASSIGNED_BY_ID", "ORIGIN_ID", "ORIGINATOR_ID", "CATEGORY_ID", "STAGE_ID", "STATUS_ID",
           "SOURCE_ID", "CONTACT_ID", "COMPANY_ID")


@dataclass(frozen=True)
class RowError:
    path: str  # "field_map[2].b24_field"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def field_label(meta: dict | None, code: str) -> str:
    """A Bitrix24 field's human label (custom UF_CRM_* fields carry theirs in listLabel/formLabel)."""
    if not meta:
        return code
    for key in ("listLabel", "formLabel", "filterLabel", "title"):
        label = meta.get(key)
        if isinstance(label, str) and label.strip() and label != code:
            return label
    return code


def enum_items(meta: dict | None) -> dict[str, str]:
    """{item ID: item VALUE} of an enumeration field."""
    items = (meta or {}).get("items") or []
    return {str(item.get("ID")): str(item.get("VALUE")) for item in items if isinstance(item, dict)}


def mappable_fields(b24_fields: dict, entity: str) -> dict[str, dict]:
    """Fields of an entity a row may target (writable, of a supported type, not managed by the integration)."""
    return {code: meta for code, meta in (b24_fields.get(entity) or {}).items()
            if not meta.get("isReadOnly") and meta.get("type") in TYPE_FITS and code not in MANAGED}


def validate_rows(rows, b24_fields: dict, catalog: dict | None = None, prefix: str = "field_map",
                  _: Translate = russian) -> list[RowError]:
    """Every problem of the rows, by position; [] when they can be stored."""
    catalog = ef.FIELDS if catalog is None else catalog
    if not isinstance(rows, list):
        return [RowError(prefix, _("Ожидался список строк."))]
    errors: list[RowError] = []
    if len(rows) > MAX_ROWS:
        errors.append(RowError(prefix, _("Не больше %(n)d строк.", n=MAX_ROWS)))
    seen: set[tuple[str, str]] = set()
    for index, row in enumerate(rows):
        path = f"{prefix}[{index}]"
        if not isinstance(row, dict):
            errors.append(RowError(path, _("Ожидалась строка сопоставления.")))
            continue
        uis_field = catalog.get(row.get("uis_field"))
        if uis_field is None:
            errors.append(RowError(f"{path}.uis_field",
                                   _("Неизвестное поле UIS «%(name)s».", name=row.get("uis_field") or "")))
        entity = row.get("entity")
        if entity not in ENTITIES:
            errors.append(RowError(f"{path}.entity", _("Сущность: лид, сделка или контакт.")))
            continue
        code = row.get("b24_field") or ""
        meta = (b24_fields.get(entity) or {}).get(code)
        if meta is None:
            errors.append(RowError(f"{path}.b24_field",
                                   _("Поля %(code)s нет в Bitrix24 (удалено или не синхронизировано).", code=code)))
            continue
        label = field_label(meta, code)
        if meta.get("isReadOnly"):
            errors.append(RowError(f"{path}.b24_field", _("Поле «%(label)s» только для чтения.", label=label)))
            continue
        if code in MANAGED:
            errors.append(RowError(f"{path}.b24_field",
                                   _("Поле «%(label)s» заполняет сама интеграция.", label=label)))
            continue
        b24_type = meta.get("type")
        if b24_type not in TYPE_FITS:
            errors.append(RowError(f"{path}.b24_field",
                                   _("Поле «%(label)s» типа %(type)s не поддерживается.", label=label,
                                     type=b24_type or "?")))
            continue
        if uis_field is not None and uis_field.type not in TYPE_FITS[b24_type]:
            errors.append(RowError(f"{path}.uis_field",
                                   _("Поле UIS «%(uis)s» не подходит по типу к полю «%(label)s» (%(type)s).",
                                     uis=uis_field.label_ru, label=label, type=b24_type)))
        value_map = row.get("value_map")
        if value_map is not None and not isinstance(value_map, dict):
            errors.append(RowError(f"{path}.value_map", _("Соответствие значений задаётся парами.")))
            value_map = None
        if b24_type in NEEDS_VALUE_MAP:
            items = enum_items(meta)
            if not value_map:
                errors.append(RowError(f"{path}.value_map",
                                       _("Поле «%(label)s» — список: задайте соответствие значений.", label=label)))
            else:
                for key, target in value_map.items():
                    if str(target) not in items:
                        errors.append(RowError(f"{path}.value_map",
                                               _("Значения «%(v)s» нет в списке поля «%(label)s».",
                                                 v=target, label=label)))
                        break
                    if not str(key).strip():
                        errors.append(RowError(f"{path}.value_map", _("Пустое значение UIS в соответствии.")))
                        break
        if (entity, code) in seen:
            errors.append(RowError(f"{path}.b24_field",
                                   _("Поле «%(label)s» уже заполняется другой строкой.", label=label)))
        seen.add((entity, code))
    return errors


def _norm(value) -> str:
    return " ".join(str(value).replace("ё", "е").split()).casefold()


def _converted(value, b24_type: str, value_map: dict | None):
    if b24_type in NEEDS_VALUE_MAP or (value_map and b24_type == "crm_status"):
        wanted = {_norm(k): v for k, v in (value_map or {}).items()}
        values = value if isinstance(value, list) else [value]
        for item in values:
            mapped = wanted.get(_norm(item))
            if mapped is not None:
                return mapped
        return None
    if b24_type in ("integer", "double"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return int(number) if b24_type == "integer" else number
    if b24_type == "boolean":
        return 1 if value else 0
    if b24_type == "char":
        return "Y" if value else "N"
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def apply_rows(rows, facts: dict, b24_fields: dict) -> dict[str, dict]:
    """{entity: {FIELD: value}} for one event; rows whose value is empty or unmapped give nothing."""
    result: dict[str, dict] = {}
    for row in rows or []:
        meta = (b24_fields.get(row.get("entity")) or {}).get(row.get("b24_field"))
        if meta is None or meta.get("isReadOnly"):
            continue
        value = facts.get(row.get("uis_field"))
        if value is None or value == "" or value == []:
            continue
        converted = _converted(value, meta.get("type") or "string", row.get("value_map"))
        if converted is None or converted == "":
            continue
        result.setdefault(row["entity"], {})[row["b24_field"]] = converted
    return result
