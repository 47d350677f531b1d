"""G2/C2/C3/O1/O2: the first matching rule wins, gone users are skipped with a reason, then employee, then default."""
from __future__ import annotations

import pytest

from bx_app.integration.responsible import pick_responsible

VIP = {"op": "and", "items": [{"field": "tags", "operator": "contains", "value": "VIP"}]}
NIGHT = {"op": "or", "items": [{"field": "hour", "operator": "lt", "value": 9},
                               {"field": "hour", "operator": "gt", "value": 20}]}
RULES = [
    {"name": "VIP", "filter": VIP, "responsible": {"type": "user", "user_id": 7}},
    {"name": "Ночь", "filter": NIGHT, "responsible": {"type": "employee"}},
    {"name": "Уволенный", "filter": NIGHT, "responsible": {"type": "user", "user_id": 14}},
]
ACTIVE = {1, 7, 9, 15}


@pytest.mark.parametrize("facts, employee, default, active, use_match, expected, why", [
    ({"tags": ["VIP"], "hour": 12}, 9, 1, ACTIVE, True, 7, "правило «VIP»"),
    ({"tags": [], "hour": 23}, 9, 1, ACTIVE, True, 9, "правило «Ночь»"),
    ({"tags": [], "hour": 23}, None, 1, ACTIVE, True, 1, "сотрудник UIS не сопоставлен"),
    ({"tags": [], "hour": 12}, 9, 1, ACTIVE, True, 9, "сотрудник UIS, обработавший"),
    ({"tags": [], "hour": 12}, 9, 1, ACTIVE, False, 1, "по умолчанию"),
    ({"tags": ["VIP"], "hour": 12}, None, 1, {1, 9}, True, 1, "пользователь 7 удалён или неактивен"),
    ({"tags": [], "hour": 12}, 14, 1, ACTIVE, True, 1, "сопоставленный пользователь 14 неактивен"),
    ({"tags": [], "hour": 12}, None, 14, ACTIVE, True, None, "ответственный не определён"),
    ({"tags": ["VIP"], "hour": 12}, None, 1, None, True, 7, "правило «VIP»"),  # never synced: trust ids
])
def test_G2_pick_responsible(facts, employee, default, active, use_match, expected, why):
    uid, reason = pick_responsible(RULES, facts, employee, default, active, use_employee_match=use_match)
    assert uid == expected
    assert why in reason


def test_G2_inactive_rule_user_is_skipped_and_next_rule_wins():
    rules = [RULES[2], RULES[0]]
    uid, reason = pick_responsible(rules, {"tags": ["VIP"], "hour": 23}, None, 1, ACTIVE, lang="en")
    assert uid == 7
    assert reason == 'rule "Уволенный": user 14 is deleted or inactive, skipped; rule "VIP"'
