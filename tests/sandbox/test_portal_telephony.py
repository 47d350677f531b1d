"""The sandbox portal's external telephony (§11, telephony_*.json): register, finish, attachRecord, lines."""
from __future__ import annotations

import base64
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import reference_fixture

pytest_plugins = ["tests.sandbox.portal_fixtures"]
REGISTER = reference_fixture("bitrix24/telephony_externalcall_register.json")
FINISH = reference_fixture("bitrix24/telephony_externalcall_finish.json")
RECORD = reference_fixture("bitrix24/telephony_externalcall_attachrecord.json")
LINES = reference_fixture("bitrix24/telephony_externalline.json")
CALL_ID = re.compile(r"^externalCall\.[0-9a-f]{32}\.\d{10}$")


def _register_body(**changes) -> dict:
    body = {k: v for k, v in REGISTER["request"]["body"].items() if k != "auth"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def tel(sandbox, token):
    def call(name, **params):
        return sandbox.rest(name, token, **params)
    return call


def test_register_creates_a_lead_when_nothing_matches(sandbox, tel):
    response = tel("telephony.externalCall.register", **_register_body())
    assert response.status_code == 200
    result = response.get_json()["result"]
    assert list(result) == list(REGISTER["response_new_lead"]["body"]["result"])
    assert CALL_ID.match(result["CALL_ID"]) and result["CALL_ID"].endswith(f".{int(sandbox.clock.now)}")
    lead = sandbox.portal_state.crm.leads[result["CRM_CREATED_LEAD"]]
    assert result["CRM_CREATED_ENTITIES"] == [{"ENTITY_TYPE": "LEAD", "ENTITY_ID": result["CRM_CREATED_LEAD"]}]
    assert (result["CRM_ENTITY_TYPE"], result["CRM_ENTITY_ID"]) == ("LEAD", result["CRM_CREATED_LEAD"])
    assert lead["PHONE"][0]["VALUE"] == "79161234567" and lead["SOURCE_ID"] == "UIS_CALL"
    assert lead["ASSIGNED_BY_ID"] == "7"


def test_register_finds_the_contact_and_creates_nothing(sandbox, tel):
    contact = tel("crm.contact.add", fields={"NAME": "Иван", "PHONE": [{"VALUE": "+7 916 123-45-67"}]}).get_json()
    result = tel("telephony.externalcall.register", **_register_body()).get_json()["result"]
    shape = REGISTER["response_existing_contact"]["body"]["result"]
    assert {k: result[k] for k in ("CRM_CREATED_LEAD", "CRM_CREATED_ENTITIES", "CRM_ENTITY_TYPE")} == \
        {k: shape[k] for k in ("CRM_CREATED_LEAD", "CRM_CREATED_ENTITIES", "CRM_ENTITY_TYPE")}
    assert result["CRM_ENTITY_ID"] == contact["result"]
    assert sandbox.portal_state.crm.leads == {}


def test_register_without_crm_create_leaves_the_crm_alone(sandbox, tel):
    result = tel("telephony.externalCall.register", **_register_body(CRM_CREATE=0)).get_json()["result"]
    assert result["CRM_ENTITY_ID"] is None and result["CRM_CREATED_LEAD"] is None
    assert sandbox.portal_state.crm.leads == {}


def test_reregister_within_thirty_minutes_returns_the_old_call(sandbox, tel):
    first = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]
    sandbox.clock.advance(29 * 60)
    again = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]
    assert again == first and len(sandbox.portal_state.crm.leads) == 1
    other = tel("telephony.externalCall.register", **_register_body(EXTERNAL_CALL_ID="3100012346")).get_json()
    assert other["result"]["CALL_ID"] != first["CALL_ID"]
    sandbox.clock.advance(2 * 60)
    later = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]
    assert later["CALL_ID"] != first["CALL_ID"]


@pytest.mark.parametrize("changes, description", [
    ({"USER_ID": None}, "USER_ID or USER_PHONE_INNER should be set"),
    ({"TYPE": 9}, "Unknown TYPE"),
    ({"CALL_START_DATE": "02.03.2026 12:11"}, "CALL_START_DATE should be in the ISO-8601 format"),
    ({"USER_ID": 14}, "User is not found or is not active"),  # dismissed
    ({"USER_ID": 999}, "User is not found or is not active"),
    ({"USER_ID": None, "USER_PHONE_INNER": "999"}, "User is not found or is not active"),
    ({"PHONE_NUMBER": "нет номера"}, "Unsupported phone number format"),
])
def test_register_errors(sandbox, tel, changes, description):
    documented = {e["body"]["error_description"] for e in REGISTER["errors"]}
    response = tel("telephony.externalCall.register", **_register_body(**changes))
    assert (response.status_code, response.get_json()) == (400, {"error": "ERROR_CORE",
                                                                 "error_description": description})
    assert description in documented or description == "Unsupported phone number format"
    assert sandbox.portal_state.telephony.calls == {}


def test_register_by_inner_number(tel):
    result = tel("telephony.externalCall.register", **_register_body(USER_ID=None, USER_PHONE_INNER="102")).get_json()
    assert CALL_ID.match(result["result"]["CALL_ID"])


def test_finish_writes_the_statistics_row_and_the_call_activity(sandbox, tel):
    call = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]
    body = {k: v for k, v in FINISH["request"]["body"].items() if k != "auth"}
    body["CALL_ID"] = call["CALL_ID"]
    row = tel("telephony.externalcall.finish", **body).get_json()["result"]
    assert set(row) == set(FINISH["response"]["body"]["result"])
    assert (row["CALL_DURATION"], row["CALL_STATUS"], row["CALL_FAILED_CODE"], row["INCOMING"]) == (95, 1, "200", "2")
    assert (row["PORTAL_NUMBER"], row["EXTERNAL_CALL_ID"], row["CALL_START_DATE"]) == ("74951234567", "3100012345", {})
    assert (row["CRM_ENTITY_TYPE"], row["CRM_ENTITY_ID"]) == ("LEAD", call["CRM_ENTITY_ID"])
    activity = sandbox.portal_state.crm.activities[row["CRM_ACTIVITY_ID"]]
    assert (activity["OWNER_TYPE_ID"], activity["OWNER_ID"], activity["TYPE_ID"], activity["DIRECTION"]) == \
        ("1", str(call["CRM_ENTITY_ID"]), "2", "1")
    assert activity["START_TIME"] == "2026-03-02T12:11:40+03:00" and activity["END_TIME"] == "2026-03-02T12:13:15+03:00"
    assert activity["RESPONSIBLE_ID"] == "7" and activity["COMPLETED"] == "Y"
    again = tel("telephony.externalcall.finish", **body)
    assert again.get_json() == FINISH["errors"][0]["body"]  # finished once: the active call is gone
    assert len(sandbox.portal_state.crm.activities) == 1


def test_finish_defaults_missed_and_rejects_unknown_calls(sandbox, tel):
    call = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]
    missed = tel("telephony.externalCall.finish", CALL_ID=call["CALL_ID"], USER_ID=7, DURATION=0).get_json()["result"]
    assert (missed["CALL_FAILED_CODE"], missed["CALL_STATUS"]) == ("304", 0)
    unknown = tel("telephony.externalCall.finish", CALL_ID="externalCall.nope.1", USER_ID=7)
    assert (unknown.status_code, unknown.get_json()) == (400, FINISH["errors"][0]["body"])
    not_text = tel("telephony.externalCall.finish", CALL_ID=12, USER_ID=7)
    assert (not_text.status_code, not_text.get_json()) == (400, FINISH["errors"][1]["body"])
    other = tel("telephony.externalCall.register", **_register_body(EXTERNAL_CALL_ID="x3")).get_json()["result"]
    no_user = tel("telephony.externalCall.finish", CALL_ID=other["CALL_ID"], DURATION=5)
    assert no_user.get_json() == {"error": "ERROR_CORE", "error_description": "USER_ID or USER_PHONE_INNER should be set"}
    inactive = tel("telephony.externalCall.finish", CALL_ID=other["CALL_ID"], USER_ID=14, DURATION=5)
    assert inactive.get_json()["error_description"] == "User is not found or is not active"


def _finished_call(tel) -> str:
    call = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]["CALL_ID"]
    tel("telephony.externalCall.finish", CALL_ID=call, USER_ID=7, DURATION=30)
    return call


def test_attach_record_only_after_finish(sandbox, tel):
    call = tel("telephony.externalCall.register", **_register_body()).get_json()["result"]["CALL_ID"]
    early = tel("telephony.externalCall.attachRecord", CALL_ID=call, RECORD_URL="https://records.example.com/1.mp3")
    assert (early.status_code, early.get_json()) == (400, RECORD["errors"][0]["body"])
    tel("telephony.externalCall.finish", CALL_ID=call, USER_ID=7, DURATION=30)
    by_url = tel("telephony.externalCall.attachRecord", **{**RECORD["by_url"]["request_body"], "CALL_ID": call})
    assert isinstance(by_url.get_json()["result"]["FILE_ID"], int)
    content = {**RECORD["by_content"]["request"]["body"], "CALL_ID": call}
    content.pop("auth")
    replaced = tel("telephony.externalcall.attachrecord", **content).get_json()["result"]["FILE_ID"]
    row = sandbox.portal_state.telephony.statistics[call]
    assert row["RECORD_FILE_ID"] == replaced and row["RECORD_URL"] is None  # a repeat replaces the record
    assert sandbox.portal_state.telephony.calls[call]["RECORD"]["SIZE"] == len(base64.b64decode(content["FILE_CONTENT"]))


@pytest.mark.parametrize("params, error", [
    ({"FILENAME": "record.ogg", "RECORD_URL": "https://records.example.com/1.ogg"}, 1),
    ({}, 2),
])
def test_attach_record_errors(tel, params, error):
    call = _finished_call(tel)
    response = tel("telephony.externalCall.attachRecord", CALL_ID=call, **params)
    assert (response.status_code, response.get_json()) == (400, RECORD["errors"][error]["body"])


def test_attach_record_by_upload_url(sandbox, tel, token):
    call = _finished_call(tel)
    answer = tel("telephony.externalCall.attachRecord", CALL_ID=call, FILENAME="3100012345.mp3").get_json()["result"]
    assert set(answer) == set(RECORD["upload_url_mode"]["response_body"]["result"]) and answer["fieldName"] == "file"
    url = urlsplit(answer["uploadUrl"])
    assert url.path == "/rest/upload.json" and parse_qs(url.query)["auth"] == [token]
    uploaded = sandbox.portal.post(f"{url.path}?{url.query}", data={"file": (io.BytesIO(b"ID3" + b"\0" * 61), "r.mp3")},
                                   content_type="multipart/form-data")
    assert uploaded.status_code == 200 and isinstance(uploaded.get_json()["result"]["FILE_ID"], int)
    assert sandbox.portal_state.telephony.calls[call]["RECORD"]["SIZE"] == 64
    again = sandbox.portal.post(f"{url.path}?{url.query}", data={"file": (io.BytesIO(b"x"), "r.mp3")},
                                content_type="multipart/form-data")
    assert again.status_code == 400


def test_external_lines(sandbox, tel):
    for line in ({k: v for k, v in LINES["add"]["request"]["body"].items() if k != "auth"},
                 {"NUMBER": "78005553535", "NAME": "UIS: 8-800", "CRM_AUTO_CREATE": "N"}):
        assert isinstance(tel("telephony.externalLine.add", **line).get_json()["result"]["ID"], int)
    duplicate = tel("telephony.externalline.add", NUMBER="74951234567")
    assert (duplicate.status_code, duplicate.get_json()) == (400, LINES["add"]["error_duplicate"]["body"])
    assert tel("telephony.externalLine.get").get_json()["result"] == LINES["get"]["response"]["body"]["result"]
    tel("telephony.externalLine.update", NUMBER="78005553535", NAME="8-800", CRM_AUTO_CREATE="Y")
    assert tel("telephony.externalLine.get").get_json()["result"][1] == {
        "NUMBER": "78005553535", "NAME": "8-800", "CRM_AUTO_CREATE": "Y"}
    assert tel("telephony.externalLine.delete", NUMBER="78005553535").get_json()["result"] is True
    assert [line["NUMBER"] for line in tel("telephony.externalLine.get").get_json()["result"]] == ["74951234567"]
    assert tel("telephony.externalLine.delete", NUMBER="78005553535").get_json()["error"] == "ERROR_CORE"
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert [line["NUMBER"] for line in state["external_lines"]] == ["74951234567"]


def test_outgoing_call_on_a_line_without_auto_create_makes_no_lead(sandbox, tel):
    tel("telephony.externalLine.add", NUMBER="74951234567", CRM_AUTO_CREATE="N")
    outgoing = tel("telephony.externalCall.register", **_register_body(TYPE=1)).get_json()["result"]
    assert outgoing["CRM_CREATED_LEAD"] is None and sandbox.portal_state.crm.leads == {}
    incoming = tel("telephony.externalCall.register", **_register_body(EXTERNAL_CALL_ID="x2")).get_json()["result"]
    assert incoming["CRM_CREATED_LEAD"] is not None


def test_telephony_needs_its_scope_and_shows_in_state(sandbox, tel):
    call = _finished_call(tel)
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert [c["CALL_ID"] for c in state["calls"]] == [call] and state["calls"][0]["FINISHED"] is True
    assert state["call_statistics"][0]["CALL_ID"] == call
    sandbox.control(scope="crm,user")
    assert tel("telephony.externalCall.register", **_register_body()).get_json()["error"] == "insufficient_scope"


def test_telephony_in_a_batch(tel):
    body = tel("batch", cmd={
        "reg": "telephony.externalcall.register?USER_ID=7&PHONE_NUMBER=79161234567&TYPE=2&CRM_CREATE=1"
               "&EXTERNAL_CALL_ID=b1",
        "fin": "telephony.externalcall.finish?CALL_ID=$result[reg][CALL_ID]&USER_ID=7&DURATION=12",
        "rec": "telephony.externalcall.attachrecord?CALL_ID=$result[reg][CALL_ID]"
               "&RECORD_URL=https%3A%2F%2Frecords.example.com%2Fb1.mp3&FILENAME=b1.mp3"}).get_json()["result"]
    assert body["result_error"] == []
    assert body["result"]["fin"]["CALL_ID"] == body["result"]["reg"]["CALL_ID"]
    assert isinstance(body["result"]["rec"]["FILE_ID"], int)


def test_calls_in_the_portal_pages(sandbox, tel):
    call = tel("telephony.externalCall.register", **_register_body(SHOW=1)).get_json()["result"]
    card = sandbox.portal.get("/crm/?user=7").get_data(as_text=True)
    assert f'data-call-id="{call["CALL_ID"]}"' in card and "79161234567" in card  # the call card pops up for user 7
    assert 'class="b24-call-card"' not in sandbox.portal.get("/crm/?user=1").get_data(as_text=True)
    tel("telephony.externalCall.finish", CALL_ID=call["CALL_ID"], USER_ID=7, DURATION=42)
    tel("telephony.externalCall.attachRecord", CALL_ID=call["CALL_ID"], FILENAME="r.mp3",
        RECORD_URL="https://records.example.com/r.mp3")
    assert 'class="b24-call-card"' not in sandbox.portal.get("/crm/?user=7").get_data(as_text=True)
    listing = sandbox.portal.get("/telephony/?user=1").get_data(as_text=True)
    assert call["CALL_ID"] in listing and "https://records.example.com/r.mp3" in listing
    detail = sandbox.portal.get(f"/telephony/call/{call['CALL_ID']}/?user=1")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "200 · 42" in text
    assert f'/crm/lead/details/{call["CRM_ENTITY_ID"]}/' in text
    entity = sandbox.portal.get(f"/crm/lead/details/{call['CRM_ENTITY_ID']}/?user=1").get_data(as_text=True)
    assert 'class="timeline-call"' in entity and 'class="record-link" href="https://records.example.com/r.mp3"' in entity
    assert sandbox.portal.get("/telephony/call/externalCall.nope.1/").status_code == 404
    assert sandbox.portal.get("/crm/lead/details/999999/").status_code == 404
