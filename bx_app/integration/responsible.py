"""Who becomes responsible (G2, C2/C3, O1/O2): the first matching rule, else the matched employee, else the default."""
from __future__ import annotations

from collections.abc import Collection

from bx_app.integration.filters import evaluate

_WORDS = {
    "ru": {
        "rule": "правило «{name}»",
        "rule_user_gone": "правило «{name}»: пользователь {uid} удалён или неактивен — пропущено",
        "rule_no_employee": "правило «{name}»: сотрудник UIS не сопоставлен с пользователем Bitrix24 — пропущено",
        "employee": "сотрудник UIS, обработавший обращение",
        "employee_gone": "сопоставленный пользователь {uid} неактивен",
        "default": "ответственный по умолчанию",
        "default_gone": "ответственный по умолчанию {uid} удалён или неактивен",
        "nobody": "ответственный не определён",
    },
    "en": {
        "rule": "rule \"{name}\"",
        "rule_user_gone": "rule \"{name}\": user {uid} is deleted or inactive, skipped",
        "rule_no_employee": "rule \"{name}\": the UIS employee has no matched Bitrix24 user, skipped",
        "employee": "the UIS employee who handled it",
        "employee_gone": "matched user {uid} is inactive",
        "default": "the default responsible",
        "default_gone": "the default responsible {uid} is deleted or inactive",
        "nobody": "no responsible user",
    },
}


def _active(user_id, active_user_ids: Collection[int] | None) -> bool:
    return user_id is not None and (active_user_ids is None or int(user_id) in active_user_ids)


def pick_responsible(rules: list, facts: dict, employee_user_id: int | None, default_id: int | None,
                     active_user_ids: Collection[int] | None, use_employee_match: bool = True,
                     lang: str = "ru") -> tuple[int | None, str]:
    """(user id or None, why). ``active_user_ids`` None means "unknown, trust the ids" (never synced)."""
    words = _WORDS["en" if lang == "en" else "ru"]
    notes: list[str] = []
    for index, rule in enumerate(rules or []):
        name = rule.get("name") or f"#{index + 1}"
        passed, _why = evaluate(rule.get("filter"), facts, lang)
        if not passed:
            continue
        target = rule.get("responsible") or {}
        if target.get("type") == "employee":
            uid = employee_user_id
            if not _active(uid, active_user_ids):
                notes.append(words["rule_no_employee"].format(name=name) if uid is None
                             else words["rule_user_gone"].format(name=name, uid=uid))
                continue
        else:
            uid = target.get("user_id")
            if not _active(uid, active_user_ids):
                notes.append(words["rule_user_gone"].format(name=name, uid=uid))
                continue
        return int(uid), "; ".join([*notes, words["rule"].format(name=name)])
    if use_employee_match and employee_user_id is not None:
        if _active(employee_user_id, active_user_ids):
            return int(employee_user_id), "; ".join([*notes, words["employee"]])
        notes.append(words["employee_gone"].format(uid=employee_user_id))
    if _active(default_id, active_user_ids):
        return int(default_id), "; ".join([*notes, words["default"]])
    if default_id is not None:
        notes.append(words["default_gone"].format(uid=default_id))
    return None, "; ".join([*notes, words["nobody"]])
