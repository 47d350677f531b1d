"""The portal's employees: the reference's users 1, 7, 9 plus cases employee matching must handle."""
from __future__ import annotations

import copy


def _user(uid: int, name: str, last: str, second: str, email: str, position: str, *, gender: str = "M",
          active: bool = True, department: int = 3, inner: str = "", online: str = "N", mobile: str = "",
          registered: str = "2025-01-15T00:00:00+03:00", last_login: str = "2026-03-01T10:00:00+03:00") -> dict:
    return {
        "ID": str(uid), "ACTIVE": active, "NAME": name, "LAST_NAME": last, "SECOND_NAME": second, "EMAIL": email,
        "LAST_LOGIN": last_login, "DATE_REGISTER": registered, "IS_ONLINE": online, "TIME_ZONE": "",
        "PERSONAL_GENDER": gender, "PERSONAL_MOBILE": mobile, "WORK_PHONE": "", "WORK_POSITION": position,
        "UF_EMPLOYMENT_DATE": "", "UF_DEPARTMENT": [department], "UF_PHONE_INNER": inner, "USER_TYPE": "employee",
    }


SEED_USERS: list[dict] = [
    # user_get_response.json, verbatim values
    _user(1, "Алексей", "Сидоров", "", "admin@example.ru", "Руководитель отдела продаж", department=1,
          inner="100", online="Y", registered="2024-11-25T00:00:00+03:00", last_login="2026-03-02T09:41:07+03:00"),
    _user(7, "Мария", "Петрова", "Сергеевна", "m.petrova@example.ru", "Менеджер по продажам", gender="F",
          inner="102", online="Y", mobile="+79161110007", registered="2025-02-10T00:00:00+03:00",
          last_login="2026-03-02T09:58:12+03:00"),
    _user(9, "Иван", "Иванов", "Иванович", "i.ivanov@example.ru", "Оператор", inner="103",
          registered="2025-06-02T00:00:00+03:00", last_login="2026-03-01T18:02:44+03:00"),
    # an active employee without a last name: matching by "last + first name" cannot work for her
    _user(11, "Ольга", "", "", "olga@example.ru", "Менеджер чатов", gender="F", inner="104"),
    # two employees with the same first and last name: the match is ambiguous
    _user(12, "Дмитрий", "Кузнецов", "Андреевич", "d.kuznetsov@example.ru", "Менеджер по продажам", inner="105"),
    _user(13, "Дмитрий", "Кузнецов", "Павлович", "d.kuznetsov2@example.ru", "Менеджер по продажам", inner="106"),
    # a dismissed employee
    _user(14, "Павел", "Волков", "Игоревич", "p.volkov@example.ru", "Оператор", active=False, inner="107"),
    _user(15, "Елена", "Новикова", "Викторовна", "e.novikova@example.ru", "Оператор", gender="F", inner="108"),
    _user(16, "Сергей", "Морозов", "", "s.morozov@example.ru", "Старший оператор", inner="109", online="Y"),
]

ADMIN_IDS = {1}


def seed_users() -> dict[int, dict]:
    return {int(u["ID"]): copy.deepcopy(u) for u in SEED_USERS}


def filler_user(uid: int) -> dict:
    """Extra employees for paging tests (control key `extra_users`)."""
    return _user(uid, f"Сотрудник{uid}", "Тестовый", "", f"user{uid}@example.ru", "Стажёр", inner=str(1000 + uid))


def full_name(user: dict) -> str:
    return " ".join(p for p in (user.get("NAME"), user.get("LAST_NAME")) if p) or f"#{user['ID']}"
