"""P1 employee matching: last + first name, ties by patronymic or e-mail, reasons, manual links win."""
from __future__ import annotations

import pytest

from bx_app.integration import employees as em
from bx_app.sandbox.portal.staff import SEED_USERS
from bx_app.sandbox.uis.seed import EMPLOYEES


def uis(eid, last, first, patronymic=None, email=None, full_name=None):
    return {"id": eid, "last_name": last, "first_name": first, "patronymic": patronymic, "email": email,
            "full_name": full_name}


def test_P1_sandbox_employees_match_by_name():
    matches = {m["uis_employee_id"]: m for m in em.match_employees(EMPLOYEES, SEED_USERS, {})}
    assert {k: (m["b24_user_id"], m["how"]) for k, m in matches.items()} == {
        45012: (9, "auto"), 45013: (7, "auto"), 45014: (1, "auto"),
        45015: (None, None)}  # two namesakes in Bitrix24 (P1): left to the administrator


@pytest.mark.parametrize("employee, user_id, reason", [
    (uis(1, "  ПЕТРОВА ", "мария"), 7, None),  # case and spaces
    (uis(2, "Новикова", "Елена"), 15, None),
    (uis(3, "Новикова", "Елёна"), 15, None),  # ё = е
    (uis(4, "Кузнецов", "Дмитрий"), None, em.AMBIGUOUS),
    (uis(5, "Кузнецов", "Дмитрий", patronymic="Павлович"), 13, None),
    (uis(6, "Кузнецов", "Дмитрий", email="D.Kuznetsov@example.ru"), 12, None),
    (uis(7, "Иванова", "Ольга"), None, em.NO_LAST_NAME),  # Ольга has no last name in Bitrix24 (P1)
    (uis(8, "Волков", "Павел"), None, em.INACTIVE),
    (uis(9, "Смирнов", "Пётр"), None, em.NO_CANDIDATE),
    (uis(10, None, None, full_name="Морозов Сергей"), 16, None),
])
def test_P1_match_reasons(employee, user_id, reason):
    [match] = em.match_employees([employee], SEED_USERS, {})
    assert (match["b24_user_id"], match["reason"]) == (user_id, reason)
    assert match["how"] == ("auto" if user_id else None)


def test_P1_manual_links_win_and_warn_about_gone_users():
    employees = [uis(4, "Кузнецов", "Дмитрий"), uis(7, "Иванова", "Ольга"), uis(9, "Смирнов", "Пётр"),
                 uis(12, "Петрова", "Мария")]
    links = {4: 13, 7: 11, 9: 999, 12: 14}
    matches = {m["uis_employee_id"]: m for m in em.match_employees(employees, SEED_USERS, links)}
    assert matches[4]["b24_user_id"] == 13 and matches[4]["how"] == "manual" and matches[4]["reason"] is None
    assert matches[7]["b24_user_id"] == 11 and matches[7]["how"] == "manual"
    assert matches[9]["reason"] == em.USER_MISSING and matches[9]["b24_user_id"] == 999
    assert matches[12]["b24_user_id"] == 14 and matches[12]["reason"] == em.INACTIVE


def test_P1_display_names():
    assert em.uis_display_name(EMPLOYEES[0]) == "Иванов Иван Иванович"
    assert em.b24_display_name(SEED_USERS[3]) == "Ольга"
