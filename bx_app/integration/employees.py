"""Employee matching (P1): UIS employees to Bitrix24 users by last + first name, ties broken by patronymic or e-mail.

A match is a dict: ``{uis_employee_id, uis_name, b24_user_id | None, how: "manual" | "auto" | None,
reason: None | "no_last_name" | "ambiguous" | "inactive" | "no_candidate" | "user_missing", candidates: [ids]}``.
A manual link always wins (its reason only warns when that user is gone or inactive).
"""
from __future__ import annotations

NO_LAST_NAME = "no_last_name"  # the Bitrix24 namesake has no last name (the brief's prerequisite P1)
AMBIGUOUS = "ambiguous"
INACTIVE = "inactive"
NO_CANDIDATE = "no_candidate"
USER_MISSING = "user_missing"  # a manual link to a user that no longer exists
REASONS = (NO_LAST_NAME, AMBIGUOUS, INACTIVE, NO_CANDIDATE, USER_MISSING)


def normalise_name(value) -> str:
    """Case, ё/е and whitespace do not matter."""
    return " ".join(str(value or "").replace("ё", "е").replace("Ё", "Е").split()).casefold()


def uis_name_parts(employee: dict) -> tuple[str, str, str]:
    """(last, first, patronymic) of a UIS employee; from full_name ("Фамилия Имя Отчество") when split fields lack."""
    last, first, middle = (normalise_name(employee.get(k)) for k in ("last_name", "first_name", "patronymic"))
    if not (last and first):
        parts = normalise_name(employee.get("full_name") or employee.get("employee_full_name")).split(" ")
        if len(parts) >= 2:
            last, first = last or parts[0], first or parts[1]
            middle = middle or (parts[2] if len(parts) > 2 else "")
    return last, first, middle


def uis_display_name(employee: dict) -> str:
    name = " ".join(p for p in (employee.get("last_name"), employee.get("first_name"), employee.get("patronymic"))
                    if p)
    return name or str(employee.get("full_name") or f"#{employee.get('id')}")


def b24_display_name(user: dict) -> str:
    name = " ".join(p for p in (user.get("LAST_NAME"), user.get("NAME"), user.get("SECOND_NAME")) if p)
    return name or str(user.get("EMAIL") or f"#{user.get('ID')}")


def _active(user: dict) -> bool:
    value = user.get("ACTIVE", True)
    return value is True or str(value).upper() in ("Y", "TRUE", "1")


def _match_one(employee: dict, users: list[dict]) -> tuple[int | None, str | None, list[int]]:
    last, first, middle = uis_name_parts(employee)
    email = normalise_name(employee.get("email"))
    same = [u for u in users if normalise_name(u.get("LAST_NAME")) == last and normalise_name(u.get("NAME")) == first
            and last and first]
    if not same:
        no_last = [int(u["ID"]) for u in users if not normalise_name(u.get("LAST_NAME"))
                   and normalise_name(u.get("NAME")) == first and first]
        if no_last:
            return None, NO_LAST_NAME, no_last
        return None, NO_CANDIDATE, []
    active = [u for u in same if _active(u)]
    if not active:
        return None, INACTIVE, [int(u["ID"]) for u in same]
    if len(active) == 1:
        return int(active[0]["ID"]), None, [int(active[0]["ID"])]
    narrowed = active
    if middle:
        by_middle = [u for u in narrowed if normalise_name(u.get("SECOND_NAME")) == middle]
        if by_middle:
            narrowed = by_middle
    if len(narrowed) > 1 and email:
        by_email = [u for u in narrowed if normalise_name(u.get("EMAIL")) == email]
        if by_email:
            narrowed = by_email
    if len(narrowed) == 1:
        return int(narrowed[0]["ID"]), None, [int(u["ID"]) for u in active]
    return None, AMBIGUOUS, [int(u["ID"]) for u in narrowed]


def match_employees(uis_employees: list[dict], b24_users: list[dict], manual_links: dict) -> list[dict]:
    """One match per UIS employee (in the UIS order); ``manual_links`` is {uis_employee_id: b24_user_id}."""
    users_by_id = {int(u["ID"]): u for u in b24_users}
    manual = {int(k): int(v) for k, v in (manual_links or {}).items() if v is not None}
    matches = []
    for employee in uis_employees:
        employee_id = int(employee["id"])
        row = {"uis_employee_id": employee_id, "uis_name": uis_display_name(employee)}
        if employee_id in manual:
            uid = manual[employee_id]
            user = users_by_id.get(uid)
            reason = USER_MISSING if user is None else (None if _active(user) else INACTIVE)
            row.update(b24_user_id=uid, how="manual", reason=reason, candidates=[uid])
        else:
            uid, reason, candidates = _match_one(employee, b24_users)
            row.update(b24_user_id=uid, how="auto" if uid is not None else None, reason=reason,
                       candidates=candidates)
        matches.append(row)
    return matches
