"""Batch references, empty IN filters and list paging as the real REST module has them (issue 10, §3, §5, §6)."""
from __future__ import annotations

import pytest

from bx_app.sandbox.portal.rest import substitute

pytest_plugins = ["tests.sandbox.portal_fixtures"]

RESULTS = {
    "add": 1045,
    "dup": {"CONTACT": [3310]},
    "none": [],
    "lead": {"ID": "1045", "TITLE": "Звонок", "CONTACT_ID": None, "OPPORTUNITY": "15000.00",
             "PHONE": [{"VALUE": "+79161234567"}]},
    "flag": True,
}


@pytest.mark.parametrize("value, expected", [
    # a whole value: walk keys while they exist, then substitute the last level reached
    ("$result[add]", 1045),
    ("$result[dup][CONTACT]", [3310]),
    ("$result[dup][CONTACT][0]", 3310),
    ("$result[dup][LEAD]", {"CONTACT": [3310]}),  # a missing key: the whole result, not ""
    ("$result[dup][LEAD][0]", {"CONTACT": [3310]}),
    ("$result[none][LEAD]", []),  # "nothing found" is [] and stays []
    ("$result[none][LEAD][0]", []),
    ("$result[lead][ID]", "1045"),
    ("$result[lead][CONTACT_ID]", None),
    ("$result[lead][PHONE][0][VALUE]", "+79161234567"),
    ("$result[lead][PHONE][3][VALUE]", [{"VALUE": "+79161234567"}]),
    ("$result[add][ID]", 1045),  # a number has no keys
    ("$result[nosuch]", RESULTS),  # even the first key missing: every result so far
    # inside a longer text: numbers become text, anything else leaves the reference as written
    ("Повтор $result[add]", "Повтор 1045"),
    ("lead $result[lead][ID]!", "lead 1045!"),
    ("sum $result[lead][OPPORTUNITY]", "sum 15000.00"),
    ("$result[add]-$result[dup][CONTACT][0]", "1045-3310"),
    ("Тема: $result[lead][TITLE]", "Тема: $result[lead][TITLE]"),
    ("ids $result[dup][LEAD]", "ids $result[dup][LEAD]"),
    ("x$result[none][LEAD][0]", "x$result[none][LEAD][0]"),
    ("flag $result[flag]", "flag $result[flag]"),
    ("contact $result[lead][CONTACT_ID]", "contact $result[lead][CONTACT_ID]"),
    ("no reference", "no reference"),
    ("$result_error[add]", "$result_error[add]"),  # not a $result reference (§5 names only $result)
])
def test_reference_resolution(value, expected):
    assert substitute(value, RESULTS) == expected


def test_numeric_command_keys_are_reachable():
    assert substitute("$result[0][ID]", {"0": {"ID": "7"}, "1": 2}) == "7"


@pytest.fixture
def world(sandbox, token):
    """A lead with one phone, a contact with another, a deal of that contact, an unrelated newer lead."""
    sandbox.control(bucket={"enabled": False})

    def add(entity, **fields):
        return sandbox.rest(f"crm.{entity}.add", token, fields=fields).get_json()["result"]

    lead = add("lead", TITLE="Лид", PHONE=[{"VALUE": "+79161110001"}])
    contact = add("contact", NAME="Контакт", PHONE=[{"VALUE": "+79161110002"}])
    deal = add("deal", TITLE="Сделка", CONTACT_ID=contact)
    newest = add("lead", TITLE="Чужой лид", PHONE=[{"VALUE": "+79990000000"}], EMAIL=[{"VALUE": "x@y.ru"}])
    return {"lead": lead, "contact": contact, "deal": deal, "newest": newest}


def _batch(sandbox, token, cmd):
    body = sandbox.rest("batch", token, halt=0, cmd=cmd).get_json()["result"]
    assert body["result_error"] == [], body["result_error"]
    return body


def _lookup(phone):
    return {"dup": f"crm.duplicate.findbycomm?type=PHONE&values[0]={phone.replace('+', '%2B')}",
            "leads": "crm.lead.list?filter[@ID]=$result[dup][LEAD]&order[ID]=DESC&select[0]=ID",
            "deals": "crm.deal.list?filter[@CONTACT_ID]=$result[dup][CONTACT]&select[0]=ID"}


def test_phone_of_a_lead_finds_that_lead(sandbox, token, world):
    body = _batch(sandbox, token, _lookup("+79161110001"))
    assert body["result"]["dup"] == {"LEAD": [world["lead"]]}
    assert body["result"]["leads"] == [{"ID": str(world["lead"])}]


def test_nothing_matches_the_in_filter_is_empty_and_every_lead_comes_back(sandbox, token, world):
    body = _batch(sandbox, token, _lookup("+70000000000"))
    assert body["result"]["dup"] == []
    # filter[@ID] = [] adds no condition: the newest unrelated lead comes first, as on a real portal
    assert [r["ID"] for r in body["result"]["leads"]] == [str(world["newest"]), str(world["lead"])]
    assert [r["ID"] for r in body["result"]["deals"]] == [str(world["deal"])]


def test_contact_only_match_hands_the_whole_result_to_the_lead_filter(sandbox, token, world):
    body = _batch(sandbox, token, {
        **_lookup("+79161110002"),
        "title": "crm.lead.add?fields[TITLE]=Дубли: $result[dup][LEAD]",
        "echo": "crm.lead.get?id=$result[title]"})
    assert body["result"]["dup"] == {"CONTACT": [world["contact"]]}
    # the lead filter got {"CONTACT": [id]}: an IN over the contact's id, not over leads found
    assert body["result"]["leads"] == []
    assert body["result"]["deals"] == [{"ID": str(world["deal"])}]
    assert body["result"]["echo"]["TITLE"] == "Дубли: $result[dup][LEAD]"


def test_numbers_inside_text_and_whole_scalars(sandbox, token, world):
    body = _batch(sandbox, token, {
        "add": "crm.lead.add?fields[TITLE]=Новый",
        "again": "crm.lead.add?fields[TITLE]=Повтор лида $result[add]&fields[COMMENTS]=$result[add]",
        "get": "crm.lead.get?id=$result[again][ID]"})  # a number has no [ID]: the number itself
    assert body["result"]["get"]["TITLE"] == f"Повтор лида {body['result']['add']}"
    assert body["result"]["get"]["COMMENTS"] == str(body["result"]["add"])
    assert body["result"]["get"]["ID"] == str(body["result"]["again"])


@pytest.mark.parametrize("conditions", [{"@ID": []}, {"@ID": ""}, {"!@ID": []}, {"@ID": {}}])
def test_empty_in_list_adds_no_condition(sandbox, token, world, conditions):
    listed = sandbox.rest("crm.lead.list", token, filter=conditions, select=["ID"]).get_json()
    assert listed["total"] == 2
    narrowed = sandbox.rest("crm.lead.list", token, filter={**conditions, "TITLE": "Лид"}, select=["ID"]).get_json()
    assert narrowed["result"] == [{"ID": str(world["lead"])}]


def test_empty_in_list_from_a_query_string(sandbox, token, world):
    body = sandbox.portal.get(f"/rest/crm.lead.list?auth={token}&filter[@ID]=&select[]=ID").get_json()
    assert body["total"] == 2


def test_in_list_with_values_still_filters(sandbox, token, world):
    listed = sandbox.rest("crm.lead.list", token, filter={"@ID": [world["newest"]]}, select=["ID"]).get_json()
    assert listed["result"] == [{"ID": str(world["newest"])}]
    others = sandbox.rest("crm.lead.list", token, filter={"!@ID": [world["newest"]]}, select=["ID"]).get_json()
    assert others["result"] == [{"ID": str(world["lead"])}]


# --- paging -------------------------------------------------------------------------------------
@pytest.fixture
def many_leads(sandbox, token):
    sandbox.control(bucket={"enabled": False})
    return [sandbox.rest("crm.lead.add", token, fields={"TITLE": f"L{i}"}).get_json()["result"] for i in range(120)]


def test_list_pages_of_fifty_with_next_and_total(sandbox, token, many_leads):
    pages, start = [], 0
    while start is not None:
        body = sandbox.rest("crm.lead.list", token, select=["ID"], start=start).get_json()
        assert body["total"] == 120
        pages.append([int(r["ID"]) for r in body["result"]])
        start = body.get("next")
    assert [len(p) for p in pages] == [50, 50, 20]
    assert sum(pages, []) == many_leads
    last = sandbox.rest("crm.lead.list", token, select=["ID"], start=100).get_json()
    assert "next" not in last


def test_start_minus_one_skips_total_and_next(sandbox, token, many_leads):
    body = sandbox.rest("crm.lead.list", token, select=["ID"], start=-1, order={"ID": "ASC"},
                        filter={">ID": many_leads[9]}).get_json()
    assert "total" not in body and "next" not in body
    assert [int(r["ID"]) for r in body["result"]] == many_leads[10:60]


def test_batch_result_next_and_total(sandbox, token, many_leads):
    body = _batch(sandbox, token, {"first": "crm.lead.list?select[0]=ID",
                                   "last": "crm.lead.list?select[0]=ID&start=100",
                                   "fast": "crm.lead.list?select[0]=ID&start=-1",
                                   "one": f"crm.lead.get?id={many_leads[0]}"})
    assert body["result_total"] == {"first": 120, "last": 120}
    assert body["result_next"] == {"first": 50}
    assert len(body["result"]["last"]) == 20 and len(body["result"]["fast"]) == 50


def test_user_get_start_minus_one(sandbox, token):
    sandbox.control(extra_users=60)
    fast = sandbox.rest("user.get", token, start=-1).get_json()
    assert len(fast["result"]) == 50 and "total" not in fast and "next" not in fast
