"""The sandbox portal's REST: parameter parsing, auth errors, users, CRM methods, batch."""
from __future__ import annotations

from urllib.parse import quote

from bx_app.sandbox.portal import php_query
from bx_app.sandbox.portal.crm import digits_of_phone
from tests.conftest import reference_fixture

pytest_plugins = ["tests.sandbox.portal_fixtures"]


# --- PHP bracket parameters ---------------------------------------------------------------------
def test_php_brackets_to_nested_structures():
    query = ("fields[TITLE]=%D0%97%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA&fields[PHONE][0][VALUE]=%2B79161234567"
             "&fields[PHONE][0][VALUE_TYPE]=WORK&fields[PHONE][1][VALUE]=84951234567&select[]=ID&select[]=TITLE"
             "&filter[>ID]=5&id=7&broken[=x")
    assert php_query.parse_query(query) == {
        "fields": {"TITLE": "Звонок", "PHONE": [{"VALUE": "+79161234567", "VALUE_TYPE": "WORK"},
                                                {"VALUE": "84951234567"}]},
        "select": ["ID", "TITLE"], "filter": {">ID": "5"}, "id": "7", "broken[": "x",
    }


def test_php_encode_round_trips():
    data = {"fields": {"TITLE": "a&b", "PHONE": [{"VALUE": "+7 916"}]}, "halt": 0}
    assert php_query.parse_query(php_query.encode(data)) == {
        "fields": {"TITLE": "a&b", "PHONE": [{"VALUE": "+7 916"}]}, "halt": "0"}


def test_get_query_post_json_and_post_form_are_equivalent(sandbox, token):
    phone = quote("+7 916 123-45-67")
    by_get = sandbox.portal.get(f"/rest/crm.lead.add?auth={token}&fields[TITLE]=A&fields[PHONE][0][VALUE]={phone}")
    by_json = sandbox.portal.post("/rest/crm.lead.add.json", json={
        "auth": token, "fields": {"TITLE": "B", "PHONE": [{"VALUE": "+7 916 123-45-67"}]}})
    by_form = sandbox.portal.post("/rest/crm.lead.add", data={
        "auth": token, "fields[TITLE]": "C", "fields[PHONE][0][VALUE]": "+7 916 123-45-67"})
    ids = [r.get_json()["result"] for r in (by_get, by_json, by_form)]
    assert all(isinstance(i, int) for i in ids)
    leads = sandbox.state.portals[8081].crm.leads
    assert [leads[i]["TITLE"] for i in ids] == ["A", "B", "C"]
    assert all(leads[i]["PHONE"][0]["VALUE"] == "+7 916 123-45-67" for i in ids)


# --- auth and generic errors --------------------------------------------------------------------
def test_auth_errors_follow_the_catalog(sandbox, token):
    catalog = {e["body"]["error"]: e for e in reference_fixture("bitrix24/rest_errors_catalog.json")["errors"]}
    missing = sandbox.portal.post("/rest/profile", json={})
    assert (missing.status_code, missing.get_json()) == (401, catalog["NO_AUTH_FOUND"]["body"])
    garbage = sandbox.rest("profile", "deadbeef")
    assert (garbage.status_code, garbage.get_json()) == (401, catalog["invalid_token"]["body"])
    unknown = sandbox.rest("crm.lead.nosuch", token)
    assert (unknown.status_code, unknown.get_json()) == (404, catalog["ERROR_METHOD_NOT_FOUND"]["body"])
    other_portal = sandbox.other_portal.post("/rest/profile", json={"auth": token})
    assert other_portal.status_code == 401 and other_portal.get_json()["error"] == "invalid_token"
    sandbox.control(scope="crm,user")
    no_scope = sandbox.rest("im.notify.system.add", token, USER_ID=1, MESSAGE="x")
    assert (no_scope.status_code, no_scope.get_json()) == (403, catalog["insufficient_scope"]["body"])
    sandbox.clock.advance(3600)
    expired = sandbox.rest("profile", token)
    assert (expired.status_code, expired.get_json()) == (401, catalog["expired_token"]["body"])


def test_success_has_result_and_time(sandbox, token):
    body = sandbox.rest("app.info", token).get_json()
    assert body["result"]["INSTALLED"] is True
    assert set(body["time"]) == {"start", "finish", "duration", "processing", "date_start", "date_finish",
                                 "operating_reset_at", "operating"}
    assert sandbox.rest("user.admin", token).get_json()["result"] is True
    assert sandbox.rest("profile", token).get_json()["result"] == {
        "ID": "1", "ADMIN": True, "NAME": "Алексей", "LAST_NAME": "Сидоров", "PERSONAL_GENDER": "M",
        "TIME_ZONE": "Europe/Moscow"}


# --- users --------------------------------------------------------------------------------------
def test_user_get_filters_and_paging(sandbox, token):
    body = sandbox.rest("user.get", token, filter={"ACTIVE": True, "USER_TYPE": "employee"}).get_json()
    names = {(u["LAST_NAME"], u["NAME"]) for u in body["result"]}
    assert {("Сидоров", "Алексей"), ("Петрова", "Мария"), ("Иванов", "Иван")} <= names
    assert ("Волков", "Павел") not in names  # inactive
    assert sum(1 for u in body["result"] if (u["LAST_NAME"], u["NAME"]) == ("Кузнецов", "Дмитрий")) == 2
    assert any(u["NAME"] == "Ольга" and u["LAST_NAME"] == "" for u in body["result"])
    first = body["result"][0]
    reference = reference_fixture("bitrix24/user_get_response.json")["response"]["body"]["result"][0]
    assert first == reference
    assert "next" not in body and body["total"] == len(body["result"])
    by_inner = sandbox.rest("user.get", token, filter={"UF_PHONE_INNER": "102"}).get_json()
    assert [u["ID"] for u in by_inner["result"]] == ["7"]
    sandbox.control(extra_users=60)
    page1 = sandbox.rest("user.get", token).get_json()
    assert len(page1["result"]) == 50 and page1["next"] == 50 and page1["total"] == 69
    page2 = sandbox.rest("user.get", token, start=50).get_json()
    assert len(page2["result"]) == 19 and "next" not in page2


def test_user_current_for_a_non_admin(sandbox):
    token7 = sandbox.installed_tokens(user_id=7)["access_token"]
    assert sandbox.rest("user.admin", token7).get_json()["result"] is False
    assert sandbox.rest("user.current", token7).get_json()["result"]["LAST_NAME"] == "Петрова"


# --- CRM ----------------------------------------------------------------------------------------
def test_lead_add_get_list_update(sandbox, token):
    request = reference_fixture("bitrix24/crm_lead_add.json")["request"]["body"]
    lead_id = sandbox.rest("crm.lead.add", token, fields=request["fields"], params=request["params"]).get_json()["result"]
    got = sandbox.rest("crm.lead.get", token, id=lead_id).get_json()["result"]
    reference = reference_fixture("bitrix24/crm_lead_get_list.json")["get"]["response"]["body"]["result"]
    assert set(reference) <= set(got)
    assert got["ID"] == str(lead_id) and got["ASSIGNED_BY_ID"] == "7" and got["OPPORTUNITY"] == "0.00"
    assert got["PHONE"][0]["TYPE_ID"] == "PHONE" and got["PHONE"][0]["ID"].isdigit()
    assert got["UF_CRM_UIS_CALL_ID"] == "3100012345"
    listed = sandbox.rest("crm.lead.list", token, filter={"ORIGINATOR_ID": "uis", "ORIGIN_ID": "3100012345"},
                          select=["ID"]).get_json()
    assert listed["result"] == [{"ID": str(lead_id)}] and listed["total"] == 1
    assert sandbox.rest("crm.lead.update", token, id=lead_id, fields={"STATUS_ID": "IN_PROCESS"}).get_json()[
        "result"] is True
    assert sandbox.state.portals[8081].crm.leads[lead_id]["STATUS_ID"] == "IN_PROCESS"
    missing = sandbox.rest("crm.lead.get", token, id=999999)
    assert (missing.status_code, missing.get_json()) == (400, {"error": "", "error_description": "Not found"})
    bad = sandbox.rest("crm.lead.add", token, fields="nope")
    assert bad.get_json() == {"error": "", "error_description": "Parameter 'fields' must be array."}


def test_lead_list_prefix_filters_and_paging(sandbox, token):
    sandbox.control(bucket={"enabled": False})
    ids = [sandbox.rest("crm.lead.add", token, fields={"TITLE": f"L{i}"}).get_json()["result"] for i in range(55)]
    page = sandbox.rest("crm.lead.list", token, order={"ID": "ASC"}, select=["ID", "TITLE"]).get_json()
    assert len(page["result"]) == 50 and page["next"] == 50 and page["total"] == 55
    tail = sandbox.rest("crm.lead.list", token, filter={">ID": ids[49]}, select=["ID"]).get_json()
    assert [r["ID"] for r in tail["result"]] == [str(i) for i in ids[50:]] and "next" not in tail
    no_total = sandbox.rest("crm.lead.list", token, start=-1, filter={">=ID": ids[54]}).get_json()
    assert "total" not in no_total and len(no_total["result"]) == 1
    assert "PHONE" not in page["result"][0]


def test_deal_add_list_by_lead_and_stages(sandbox, token):
    deal = reference_fixture("bitrix24/crm_deal_add_list.json")["add"]["request"]["body"]["fields"]
    deal_id = sandbox.rest("crm.deal.add", token, fields=deal).get_json()["result"]
    got = sandbox.rest("crm.deal.get", token, id=deal_id).get_json()["result"]
    assert (got["CATEGORY_ID"], got["STAGE_ID"], got["CONTACT_ID"]) == ("1", "C1:NEW", "3310")
    stages = sandbox.rest("crm.status.list", token, filter={"ENTITY_ID": "DEAL_STAGE_1"}).get_json()["result"]
    assert stages[0]["STATUS_ID"] == "C1:NEW" and stages[0]["EXTRA"]["SEMANTICS"] == "process"
    sources = sandbox.rest("crm.status.list", token, filter={"ENTITY_ID": "SOURCE"}).get_json()["result"]
    assert [s["STATUS_ID"] for s in sources][:3] == ["CALL", "EMAIL", "WEB"]
    categories = sandbox.rest("crm.category.list", token, entityTypeId=2).get_json()
    assert categories["result"]["categories"][-1] == {"id": 0, "name": "Общая", "sort": 300, "entityTypeId": 2,
                                                      "isDefault": "Y"}
    assert categories["total"] == 3
    wrong = sandbox.rest("crm.category.list", token, entityTypeId=4)
    assert wrong.get_json()["error"] == "ENTITY_TYPE_NOT_SUPPORTED"


def test_fields_carry_custom_fields(sandbox, token):
    fields = sandbox.rest("crm.lead.fields", token).get_json()["result"]
    assert fields["UF_CRM_1709112233"]["items"][1] == {"ID": "62", "VALUE": "Чат"}
    assert fields["UF_CRM_1709112244"]["formLabel"] == "Город" and fields["UF_CRM_1709112244"]["isDynamic"]
    assert fields["SOURCE_ID"]["statusType"] == "SOURCE"
    deal_fields = sandbox.rest("crm.deal.fields", token).get_json()["result"]
    assert any(k.startswith("UF_CRM_") and v["type"] == "enumeration" for k, v in deal_fields.items())


def test_required_custom_field(sandbox, token):
    sandbox.control(required_fields={"lead": ["UF_CRM_1709112244"]})
    assert sandbox.rest("crm.lead.fields", token).get_json()["result"]["UF_CRM_1709112244"]["isRequired"] is True
    failed = sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"})
    assert failed.status_code == 400
    assert failed.get_json() == {"error": "", "error_description": "The required field 'Город' is missing.<br />"}
    ok = sandbox.rest("crm.lead.add", token, fields={"TITLE": "x", "UF_CRM_1709112244": "Москва"})
    assert ok.status_code == 200


def test_simple_crm_mode_converts_leads(sandbox, token):
    sandbox.control(crm_mode=2)
    assert sandbox.rest("crm.settings.mode.get", token).get_json()["result"] == 2
    lead_id = sandbox.rest("crm.lead.add", token, fields={
        "TITLE": "Чат", "NAME": "Иван", "PHONE": [{"VALUE": "+79161234567"}], "ASSIGNED_BY_ID": 7}).get_json()["result"]
    lead = sandbox.rest("crm.lead.get", token, id=lead_id).get_json()["result"]
    assert (lead["STATUS_ID"], lead["STATUS_SEMANTIC_ID"]) == ("CONVERTED", "S") and lead["CONTACT_ID"]
    deals = sandbox.rest("crm.deal.list", token, filter={"LEAD_ID": lead_id},
                         select=["ID", "LEAD_ID", "CONTACT_ID", "ASSIGNED_BY_ID"]).get_json()["result"]
    assert len(deals) == 1 and deals[0]["LEAD_ID"] == str(lead_id) and deals[0]["ASSIGNED_BY_ID"] == "7"
    assert deals[0]["CONTACT_ID"] == lead["CONTACT_ID"]


def test_findbycomm_compares_digits_without_the_extension(sandbox, token):
    assert digits_of_phone("+7 (916) 123-45-67 доб. 12") == digits_of_phone("7916 123 45 67 ext 9") == "79161234567"
    # §6: "+7/8 normalisation ?" (unverified): the sandbox does not take 8... and +7... for one number
    assert digits_of_phone("8 (916) 123-45-67") == "89161234567"
    lead = sandbox.rest("crm.lead.add", token, fields={"PHONE": [{"VALUE": "+7 (916) 123-45-67"}],
                                                       "EMAIL": [{"VALUE": "Ivan@Example.org"}]}).get_json()["result"]
    contact = sandbox.rest("crm.contact.add", token, fields={"PHONE": [{"VALUE": "79161234567,55"}]}).get_json()["result"]
    found = sandbox.rest("crm.duplicate.findbycomm", token, type="PHONE", values=["79161234567"]).get_json()
    assert found["result"] == {"LEAD": [lead], "CONTACT": [contact]}
    only_leads = sandbox.rest("crm.duplicate.findbycomm", token, type="PHONE", values=["+7 916 123-45-67 #1"],
                              entity_type="LEAD").get_json()
    assert only_leads["result"] == {"LEAD": [lead]}
    by_email = sandbox.rest("crm.duplicate.findbycomm", token, type="EMAIL", values=["ivan@example.ORG"]).get_json()
    assert by_email["result"] == {"LEAD": [lead]}  # types without hits are omitted
    eight = sandbox.rest("crm.duplicate.findbycomm", token, type="PHONE", values=["89161234567"]).get_json()
    assert eight["result"] == []
    nothing = sandbox.rest("crm.duplicate.findbycomm", token, type="PHONE", values=["+70000000000"]).get_json()
    assert nothing["result"] == []


def test_findbycomm_errors_are_the_documented_ones(sandbox, token):
    documented = reference_fixture("bitrix24/crm_duplicate_findbycomm.json")["errors"]
    for params, expected in (({"values": ["1"]}, documented[0]), ({"type": "PHONE"}, documented[1]),
                             ({"type": "PHONE", "values": []}, documented[1])):
        response = sandbox.rest("crm.duplicate.findbycomm", token, **params)
        assert (response.status_code, response.get_json()) == (expected["http_status"], expected["body"])
    skype = sandbox.rest("crm.duplicate.findbycomm", token, type="SKYPE", values=["x"])
    assert (skype.status_code, skype.get_json()) == (documented[2]["http_status"], documented[2]["body"])


def test_findbycomm_looks_at_twenty_values_and_twenty_hits_of_one_type_hide_the_rest(sandbox, token):
    sandbox.control(bucket={"enabled": False})
    phones = [f"+7916000{i:04d}" for i in range(21)]
    leads = [sandbox.rest("crm.lead.add", token, fields={"PHONE": [{"VALUE": p}]}).get_json()["result"]
             for p in phones]
    sandbox.rest("crm.contact.add", token, fields={"PHONE": [{"VALUE": phones[0]}]})
    found = sandbox.rest("crm.duplicate.findbycomm", token, type="PHONE", values=phones).get_json()["result"]
    assert found == {"LEAD": leads[:20]}  # the 21st value is not looked at; the contact's hit is suppressed


def test_activity_comment_and_notification(sandbox, token):
    lead = sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"}).get_json()["result"]
    fields = dict(reference_fixture("bitrix24/crm_activity_add.json")["crm.activity.add"]["request"]["body"]["fields"])
    fields["OWNER_ID"] = lead
    fields["COMMUNICATIONS"][0]["ENTITY_ID"] = lead
    assert isinstance(sandbox.rest("crm.activity.add", token, fields=fields).get_json()["result"], int)
    errors = {e["body"]["error_description"] for e in reference_fixture("bitrix24/crm_activity_add.json")["errors"]}
    for broken, text in (({"SUBJECT": ""}, "The field SUBJECT is not defined or empty."),
                         ({"COMMUNICATIONS": []}, "The field COMMUNICATIONS is not defined or invalid."),
                         ({"OWNER_ID": 999999}, "Could not build binding. Please ensure that owner info and "
                                                "communications are defined correctly.")):
        response = sandbox.rest("crm.activity.add", token, fields={**fields, **broken})
        assert response.status_code == 400 and response.get_json() == {"error": "", "error_description": text}
        assert text in errors
    comment = sandbox.rest("crm.timeline.comment.add", token,
                           fields={"ENTITY_ID": lead, "ENTITY_TYPE": "lead", "COMMENT": "hello"})
    assert isinstance(comment.get_json()["result"], int)
    orphan = sandbox.rest("crm.timeline.comment.add", token,
                          fields={"ENTITY_ID": 1, "ENTITY_TYPE": "lead", "COMMENT": "x"})
    assert orphan.get_json()["error"] == "OWNER_NOT_FOUND"
    note = sandbox.rest("im.notify.system.add", token, USER_ID=7, MESSAGE="[B]UIS[/B]", TAG="T1").get_json()
    assert isinstance(note["result"], int)
    sandbox.rest("im.notify.system.add", token, USER_ID=7, MESSAGE="again", TAG="T1")
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert [n["MESSAGE"] for n in state["notifications"]] == ["again"]
    assert len(state["activities"]) == 1 and len(state["timeline_comments"]) == 1
    assert sandbox.rest("im.notify.system.add", token, MESSAGE="x").get_json()["error"] == "USER_ID_EMPTY"


def test_event_bind_get_unbind(sandbox, token):
    handler = "http://localhost:8000/b24/events"
    assert sandbox.rest("event.bind", token, event="ONAPPUNINSTALL", handler=handler).get_json()["result"] is True
    duplicate = sandbox.rest("event.bind", token, event="onappuninstall", handler=handler)
    assert duplicate.get_json()["error"] == "ERROR_HANDLER_ALREADY_EXIST"
    assert sandbox.rest("event.bind", token, event="ONNOTHING", handler=handler).get_json()["error"] == \
        "ERROR_EVENT_NOT_FOUND"
    assert sandbox.rest("event.get", token).get_json()["result"] == [
        {"event": "ONAPPUNINSTALL", "handler": handler, "auth_type": "0", "offline": 0}]
    assert sandbox.rest("event.unbind", token, event="ONAPPUNINSTALL", handler=handler).get_json()["result"] == \
        {"count": 1}


# --- batch --------------------------------------------------------------------------------------
def test_batch_references_like_the_reference(sandbox, token):
    lead = sandbox.rest("crm.lead.add", token, fields={"TITLE": "Входящий", "PHONE": [{"VALUE": "+79161234567"}]})
    lead_id = lead.get_json()["result"]
    cmd = reference_fixture("bitrix24/batch_request_and_response.json")["request"]["body"]["cmd"]
    body = sandbox.rest("batch", token, halt=0, cmd=cmd).get_json()
    result = body["result"]
    assert result["result"]["dup"] == {"LEAD": [lead_id]}
    assert result["result"]["by_origin"] == []
    assert result["result"]["lead"]["ID"] == str(lead_id)
    assert isinstance(result["result"]["comment"], int)
    assert result["result_error"] == [] and result["result_next"] == []
    assert result["result_total"] == {"by_origin": 0}
    assert set(result["result_time"]) == set(cmd)
    assert sandbox.state.portals[8081].crm.comments[result["result"]["comment"]]["ENTITY_ID"] == str(lead_id)
    # a bare $result[key] (the id from *.add) and a GET batch (commands encoded twice)
    cmd2 = {"add": "crm.lead.add?fields[TITLE]=x", "get": "crm.lead.get?id=$result[add]"}
    url = f"/rest/batch?auth={token}&cmd[add]={quote(cmd2['add'])}&cmd[get]={quote(cmd2['get'])}"
    got = sandbox.portal.get(url).get_json()["result"]["result"]
    assert got["get"]["ID"] == str(got["add"])


def test_batch_partial_errors_halt_and_numeric_keys(sandbox, token):
    lead_id = sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"}).get_json()["result"]
    partial = sandbox.rest("batch", token, halt=0, cmd={"ok": f"crm.lead.get?id={lead_id}",
                                                         "missing": "crm.lead.get?id=999999"}).get_json()["result"]
    assert partial["result"]["ok"]["ID"] == str(lead_id)
    assert partial["result_error"] == {"missing": {"error": "", "error_description": "Not found"}}
    halted = sandbox.rest("batch", token, halt=1, cmd={"missing": "crm.lead.get?id=999999",
                                                        "ok": f"crm.lead.get?id={lead_id}"}).get_json()["result"]
    reference = reference_fixture("bitrix24/batch_request_and_response.json")["variant_halt1"]["response_body"]
    assert halted == reference["result"]
    numeric = sandbox.rest("batch", token, cmd={"0": f"crm.lead.get?id={lead_id}", "1": "app.info"}).get_json()
    assert isinstance(numeric["result"]["result"], list) and numeric["result"]["result"][1]["CODE"]
    as_list = sandbox.rest("batch", token, cmd=["app.info", "profile"]).get_json()["result"]["result"]
    assert isinstance(as_list, list) and len(as_list) == 2


def test_batch_limits_and_nesting(sandbox, token):
    too_many = sandbox.rest("batch", token, cmd={f"c{i}": "app.info" for i in range(51)})
    assert too_many.status_code == 400
    assert too_many.get_json() == {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}
    nested = sandbox.rest("batch", token, cmd={"inner": "batch?cmd[a]=app.info"}).get_json()["result"]
    assert nested["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    unknown = sandbox.rest("batch", token, cmd={"x": "no.such.method"}).get_json()["result"]
    assert unknown["result_error"]["x"]["error"] == "ERROR_METHOD_NOT_FOUND"
