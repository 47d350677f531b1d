"""The chats and offline sections (C1–C8, O1–O6, G1–G4, S1–S4): stored settings, bad input, read-only, isolation."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from bx_app import settings_forms, settings_store
from bx_app.extensions import db
from bx_app.integration import event_fields as ef
from bx_app.integration.filters import validate_tree
from bx_app.models import ChannelSettings, Event
from bx_app.reference_sync import store
from tests.unit.factories import make_credential, portal_token, two_accounts

from bx_app.sandbox.portal.crm_catalog import fields_of  # isort: skip
from bx_app.sandbox.portal.staff import SEED_USERS  # isort: skip


@pytest.fixture
def world(app):
    return two_accounts()


class FormInputs(HTMLParser):
    """What a browser would post from a rendered form: inputs, checked boxes, selected options, textareas."""

    def __init__(self):
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self.data.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = [a["name"], None, None]
        elif tag == "option" and self._select is not None:
            if self._select[2] is None:
                self._select[2] = a.get("value", "")
            if "selected" in a:
                self._select[1] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            name, chosen, first = self._select
            self.data.append((name, chosen if chosen is not None else (first or "")))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append(tuple(self._textarea))
            self._textarea = None


def posted_from(html: str, form_id: str) -> list[tuple[str, str]]:
    start = html.index(f'id="{form_id}"')
    start = html.rindex("<form", 0, start)
    end = html.index("</form>", start)
    parser = FormInputs()
    parser.feed(html[start:end])
    return parser.data


def synced(credential_id: int) -> None:
    store(credential_id, "b24_users", [{**u, "ACTIVE": u["ACTIVE"]} for u in SEED_USERS])
    store(credential_id, "b24_fields", {e: fields_of(e, set()) for e in ("lead", "deal", "contact")})
    store(credential_id, "b24_pipelines", [{"id": 0, "name": "Общая", "stages": [{"id": "NEW", "name": "Новая"}]},
                                           {"id": 1, "name": "Оборудование",
                                            "stages": [{"id": "C1:NEW", "name": "Заявка"}]}])
    store(credential_id, "uis_channels", [{"id": 3101, "name": "Чат сайта", "type": "comagic"},
                                          {"id": 3102, "name": "WhatsApp", "type": "whatsapp"}])
    store(credential_id, "b24_crm_mode", 1)
    db.session.commit()


TWO_LEVEL = {"op": "or", "items": [
    {"op": "and", "items": [{"field": "site", "operator": "eq", "value": "shop.example.ru"},
                            {"field": "tags", "operator": "contains", "value": "VIP"}]},
    {"op": "and", "items": [{"field": "hour", "operator": "between", "value": [9, 18]},
                            {"field": "has_phone", "operator": "eq", "value": True},
                            {"field": "channel_id", "operator": "in", "value": [3101, 3102]}]},
]}
FULL_CHATS = {
    "channels": {"mode": "selected", "ids": [3102], "include_new": False},
    "filter": TWO_LEVEL,
    "responsible_rules": [
        {"name": "VIP", "filter": {"op": "and", "items": [{"field": "tags", "operator": "contains", "value": "VIP"}]},
         "responsible": {"type": "user", "user_id": 7}},
        {"name": "Ночь", "filter": {"op": "or", "items": [{"field": "hour", "operator": "lt", "value": 9}]},
         "responsible": {"type": "employee"}}],
    "use_employee_match": False, "default_responsible_id": 15, "contact_kinds": "first", "repeat_action": "attach",
    "entity": "lead_deal_activity", "lead_deal": {"type": "deal", "category_id": 1, "stage_id": "C1:NEW"},
    "create_on": "start", "pass_without_contacts": False, "notify": False, "transcript_to": "timeline",
    "title_template": {"lead": "Чат {channel}: {visitor_name}", "deal": "Сделка {site} {date}",
                       "activity": "Чат №{id}"},
    "field_map": [{"uis_field": "channel_type", "entity": "deal", "b24_field": "UF_CRM_1709113302",
                   "value_map": {"whatsapp": "72"}},
                  {"uis_field": "visitor_city", "entity": "lead", "b24_field": "UF_CRM_1709112244", "value_map": None}],
}


def page(client, app, cred, section="chats", admin=True):
    return client.get(f"/settings/{cred.id}/channels/{section}", query_string={"_s": portal_token(app, cred, admin)})


def resubmit(client, app, cred, section="chats", action="save", extra=None):
    html = page(client, app, cred, section).get_data(as_text=True)
    data = posted_from(html, "section-form")
    data = [(k, v) for k, v in data if k not in (extra or {})] + list((extra or {}).items())
    data.append(("action", action))
    return client.post(f"/settings/{cred.id}/channels/{section}", data=MultiDict(data))


def test_S1_S3_render_save_reload_is_the_identity(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    settings_store.save_channel(cred.id, "chats", False, FULL_CHATS)
    before = settings_store.load_channel(cred.id, "chats")
    response = resubmit(client, app, cred)
    assert response.status_code == 302 and "notice=saved" in response.location
    assert settings_store.load_channel(cred.id, "chats") == before


def test_S1_S2_tab_words_and_one_save_button(app, client, world):
    cred = world["mine"]
    html = page(client, app, cred).get_data(as_text=True)
    for words in ("Главная", "Чаты и офлайн заявки", "Интеграция активна", "Сохранить",
                  "Проверить на последних событиях", "Офлайн заявки"):
        assert words in html
    assert html.count('id="save-section"') == 1
    assert 'id="main-inactive-note"' in html  # S3: Main is off on a fresh install


@pytest.mark.parametrize("extra, key, expected", [
    ({"channels_mode": "selected", "channels_ids": "3101"}, "channels",
     {"mode": "selected", "ids": [3101], "include_new": True}),  # C1
    ({"default_responsible_id": "9"}, "default_responsible_id", 9),  # C3
    ({"contact_kinds": "repeat"}, "contact_kinds", "repeat"),  # C4
    ({"entity": "activity"}, "entity", "activity"),  # C5
    ({"create_on": "start"}, "create_on", "start"),  # C6
    ({"pass_without_contacts": ""}, "pass_without_contacts", False),  # C7
    ({"notify": ""}, "notify", False),  # C8
    ({"transcript_to": "timeline"}, "transcript_to", "timeline"),  # C9
], ids=["C1", "C3", "C4", "C5", "C6", "C7", "C8", "C9"])
def test_C_options_are_stored(app, client, world, extra, key, expected):
    cred = world["mine"]
    synced(cred.id)
    response = resubmit(client, app, cred, extra=extra)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert settings_store.load_channel(cred.id, "chats").as_dict()[key] == expected


def test_C2_responsible_rule_added_without_javascript_and_stored(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    response = resubmit(client, app, cred, action="add_rule")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="rule-0"' in html
    overrides = {"rule-0-name": "VIP", "rule-0-user_id": "7", "rule-0-filter.0.0.field": "tags",
                 "rule-0-filter.0.0.operator": "contains", "rule-0-filter.0.0.value": "VIP", "action": "save"}
    data = [(k, v) for k, v in posted_from(html, "section-form") if k not in overrides] + list(overrides.items())
    response = client.post(f"/settings/{cred.id}/channels/chats", data=MultiDict(data))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    rules = settings_store.load_channel(cred.id, "chats").responsible_rules
    assert [r.as_dict() for r in rules] == [{"name": "VIP", "filter": {"op": "and", "items": [
        {"field": "tags", "operator": "contains", "value": "VIP"}]}, "responsible": {"type": "user", "user_id": 7}}]


@pytest.mark.parametrize("extra, key, expected", [
    ({"default_responsible_id": "9"}, "default_responsible_id", 9),  # O2
    ({"contact_kinds": "first"}, "contact_kinds", "first"),  # O3
    ({"entity": "lead_deal_activity"}, "entity", "lead_deal_activity"),  # O4
    ({"create_on": "processed"}, "create_on", "processed"),  # O5
    ({"notify": ""}, "notify", False),  # O6
    ({"lead_deal_type": "deal", "lead_deal_category_id": "1", "lead_deal_stage_id": "C1:NEW"}, "lead_deal",
     {"type": "deal", "category_id": 1, "stage_id": "C1:NEW"}),
], ids=["O2", "O3", "O4", "O5", "O6", "O4-deal-pipeline"])
def test_O_options_are_stored(app, client, world, extra, key, expected):
    cred = world["mine"]
    synced(cred.id)
    response = resubmit(client, app, cred, "offline", extra=extra)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert settings_store.load_channel(cred.id, "offline").as_dict()[key] == expected


def test_O1_G2_rule_with_employee_and_offline_fields(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    settings_store.save_channel(cred.id, "offline", True, {"responsible_rules": [
        {"name": "Форма", "filter": {"op": "and", "items": [
            {"field": "form_name", "operator": "starts_with", "value": "Обратный"}]},
         "responsible": {"type": "employee"}}]})
    assert resubmit(client, app, cred, "offline").status_code == 302
    rule = settings_store.load_channel(cred.id, "offline").responsible_rules[0]
    assert rule.responsible.type == "employee" and rule.responsible.user_id is None
    assert rule.filter.items[0].field == "form_name"


def test_G1_two_level_filter_built_with_buttons(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    html = resubmit(client, app, cred, action="add_group:filter:0").get_data(as_text=True)
    assert 'name="filter.0.0.kind" value="group"' in html
    data = dict(posted_from(html, "section-form"))
    data.update({"filter.0.op": "and", "filter.0.0.op": "or", "filter.0.0.0.field": "site",
                 "filter.0.0.0.operator": "eq", "filter.0.0.0.value": "shop.example.ru",
                 "filter.0.0.1.kind": "cond", "filter.0.0.1.field": "utm_source", "filter.0.0.1.operator": "in",
                 "filter.0.0.1.value": "yandex, google", "filter.0.1.kind": "cond", "filter.0.1.field": "hour",
                 "filter.0.1.operator": "between", "filter.0.1.value": "9, 18", "action": "save"})
    response = client.post(f"/settings/{cred.id}/channels/chats", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert settings_store.load_channel(cred.id, "chats").filter.as_dict() == {"op": "and", "items": [
        {"op": "or", "items": [{"field": "site", "operator": "eq", "value": "shop.example.ru"},
                               {"field": "utm_source", "operator": "in", "value": ["yandex", "google"]}]},
        {"field": "hour", "operator": "between", "value": [9, 18]}]}


@pytest.mark.parametrize("extra, name, needle", [
    ({"filter.0.kind": "group", "filter.0.op": "and", "filter.0.0.kind": "cond", "filter.0.0.field": "hour",
      "filter.0.0.operator": "between", "filter.0.0.value": "18, 9"}, "filter.0.0.value", "больше конца"),
    ({"filter.0.kind": "group", "filter.0.op": "and", "filter.0.0.kind": "cond", "filter.0.0.field": "bogus",
      "filter.0.0.operator": "eq", "filter.0.0.value": "x"}, "filter.0.0.field", "«bogus»"),
    ({"filter.0.kind": "group", "filter.0.op": "and", "filter.0.0.kind": "cond", "filter.0.0.field": "form_name",
      "filter.0.0.operator": "eq", "filter.0.0.value": "x"}, "filter.0.0.field", "«form_name»"),
    ({"filter.0.kind": "group", "filter.0.op": "and", "filter.0.0.kind": "cond", "filter.0.0.field": "",
      "filter.0.0.operator": "eq", "filter.0.0.value": "shop.example.ru"}, "filter.0.0.field",
     "Выберите поле условия"),
    ({"title_lead": "Чат {nope}"}, "title_lead", "{nope}"),
    ({"default_responsible_id": "14"}, "default_responsible_id", "Волков Павел (14) удалён или неактивен"),
    ({"channels_mode": "selected", "channels_ids": "9999"}, "channels_ids", "Канала 9999 больше нет"),
    ({"lead_deal_category_id": "0", "lead_deal_stage_id": "C1:NEW"}, "lead_deal_stage_id", "не из воронки"),
    ({"fm-0-uis_field": "site", "fm-0-entity": "lead", "fm-0-b24_field": "UF_CRM_1709112233", "fm-0-value_map": ""},
     "fm-0-value_map", "задайте соответствие"),
    ({"fm-0-uis_field": "site", "fm-0-entity": "lead", "fm-0-b24_field": "UF_CRM_GONE", "fm-0-value_map": ""},
     "fm-0-b24_field", "UF_CRM_GONE"),
], ids=["G1-range", "G1-unknown-field", "G1-other-channel-field", "G1-value-without-field", "G3-placeholder", "C3-inactive-user",
        "C1-deleted-channel", "stage-pipeline", "G4-enum", "G4-deleted-field"])
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(app, client, world, extra, name, needle):
    cred = world["mine"]
    synced(cred.id)
    response = resubmit(client, app, cred, extra=extra)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert needle in html
    if name.startswith(("filter", "fm-", "channels", "default_resp", "title", "lead_deal")):
        assert f'data-for="{name}"' in html
    assert ChannelSettings.query.filter_by(credential_id=cred.id).count() == 0


def test_G4_field_mapping_with_labels_and_value_map(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    response = resubmit(client, app, cred, extra={
        "fm-0-uis_field": "channel_type", "fm-0-entity": "deal", "fm-0-b24_field": "UF_CRM_1709113302",
        "fm-0-value_map": "whatsapp = Чат\ncomagic = 73"})
    assert response.status_code == 302
    assert settings_store.load_channel(cred.id, "chats").as_dict()["field_map"] == [
        {"uis_field": "channel_type", "entity": "deal", "b24_field": "UF_CRM_1709113302",
         "value_map": {"whatsapp": "72", "comagic": "73"}}]
    html = page(client, app, cred).get_data(as_text=True)
    assert "Канал обращения (UF_CRM_1709113302)" in html and "whatsapp = 72" in html


def test_G3_placeholder_list_is_next_to_the_templates(app, client, world):
    html = page(client, app, world["mine"]).get_data(as_text=True)
    placeholders = html[html.index('id="placeholders"'):]
    for name in ("{channel}", "{visitor_name}", "{phone}", "{site}", "{utm_source}", "{date}"):
        assert name in placeholders


def test_preview_of_unsaved_settings_on_recent_events(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    for n, site in enumerate(("shop.example.ru", "example.ru")):
        db.session.add(Event(credential_id=cred.id, kind="offline_message", stage="arrived", external_id=str(n),
                             dedupe_key=f"k{n}", source="push", payload={"site_domain_name": site,
                                                                         "visitor_name": "Анна"}))
    db.session.commit()
    response = resubmit(client, app, cred, "offline", action="preview", extra={
        "filter.0.kind": "group", "filter.0.op": "and", "filter.0.0.kind": "cond", "filter.0.0.field": "site",
        "filter.0.0.operator": "eq", "filter.0.0.value": "shop.example.ru", "title_lead": "Заявка {site}: {visitor_name}"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="preview"' in html
    assert html.count("preview-passed") == 1 and html.count("preview-filtered") == 1
    assert "Заявка shop.example.ru: Анна" in html and "Сайт (домен) равно «shop.example.ru»" in html
    assert ChannelSettings.query.count() == 0  # preview never saves


def test_simple_crm_forces_deal(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    store(cred.id, "b24_crm_mode", 2)
    db.session.commit()
    assert 'id="simple-crm-note"' in page(client, app, cred).get_data(as_text=True)
    assert resubmit(client, app, cred, extra={"lead_deal_type": "lead"}).status_code == 302
    assert settings_store.load_channel(cred.id, "chats").lead_deal.type == "deal"


def test_non_admin_read_only_and_403(app, client, world):
    cred = world["mine"]
    html = page(client, app, cred, admin=False).get_data(as_text=True)
    assert 'id="readonly-note"' in html and 'id="save-section"' not in html
    token = portal_token(app, cred, admin=False)
    response = client.post(f"/settings/{cred.id}/channels/chats", data={"_s": token, "action": "save"})
    assert response.status_code == 403
    assert client.post(f"/settings/{cred.id}/sync", data={"_s": token}).status_code == 403
    assert client.post(f"/settings/{cred.id}/employees", data={"_s": token}).status_code == 403


def test_S4_other_credentials_are_never_visible(app, client, world):
    mine, other = world["mine"], world["other"]
    settings_store.save_channel(other.id, "chats", True, {"title_template": {"lead": "СЕКРЕТ {id}"}})
    token = portal_token(app, mine)
    for url in (f"/settings/{other.id}/channels/chats", f"/settings/{other.id}/main"):
        assert client.get(url, query_string={"_s": token}).status_code == 404
    assert client.post(f"/settings/{other.id}/channels/chats", data={"_s": token}).status_code == 404
    assert client.post(f"/settings/{other.id}/sync", data={"_s": token}).status_code == 404
    html = client.get(f"/settings/{mine.id}/channels/chats", query_string={"_s": token}).get_data(as_text=True)
    assert "СЕКРЕТ" not in html
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    assert client.get(f"/settings/{other.id}/channels/offline").status_code == 404
    assert client.get(f"/settings/{mine.id}/channels/offline").status_code == 200


def test_S4_picker_lists_the_account_credentials_in_the_url(app, client, world):
    second = make_credential(3, world["account"])
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    html = client.get(f"/settings/{second.id}/main").get_data(as_text=True)
    picker = html[html.index('id="credential-picker"'):html.index("</form>", html.index('id="credential-picker"'))]
    assert f"/settings/{world['mine'].id}/main" in picker and f"/settings/{second.id}/main" in picker
    assert f"/settings/{world['other'].id}/" not in picker


# --- property: tree → rendered form data → tree is the identity ----------------------------------------
CHATS = ef.catalog_for("chats")
_text = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" .-_@"),
                min_size=1, max_size=12).map(str.strip).filter(bool)


def _condition():
    def for_field(name):
        field = CHATS[name]
        ops = field.operators
        return st.sampled_from(ops).flatmap(lambda op: st.builds(
            lambda v: {"field": name, "operator": op, "value": v}, _value(field, op)))
    return st.sampled_from(sorted(CHATS)).flatmap(for_field)


def _value(field, op):
    scalar = {ef.STRING: _text, ef.TAGS: _text, ef.ID: st.integers(1, 10**6), ef.BOOL: st.booleans(),
              ef.NUMBER: st.integers(field.minimum if field.minimum is not None else -1000,
                                     field.maximum if field.maximum is not None else 1000)}[field.type]
    if op in ef.NO_VALUE:
        return st.none()
    if op in ef.LIST_VALUE:
        return st.lists(scalar, min_size=1, max_size=4)
    if op == "between":
        return st.tuples(scalar, scalar).map(lambda t: sorted(t))
    return scalar


_trees = st.recursive(_condition(), lambda kids: st.builds(lambda op, items: {"op": op, "items": items},
                                                             st.sampled_from(["and", "or"]),
                                                             st.lists(kids, min_size=1, max_size=3)), max_leaves=8)


class _Form(dict):
    def getlist(self, key):
        return [self[key]] if key in self else []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_trees)
def test_G1_save_load_render_parse_is_the_identity(tree):
    root = tree if "items" in tree else {"op": "and", "items": [tree]}
    if validate_tree(root, CHATS):
        return
    form = _Form(settings_forms.draft_to_formdata(settings_forms.tree_to_draft(root), "filter"))
    parsed, errors = settings_forms.draft_to_tree(settings_forms.draft_from_formdata(form, "filter"), CHATS, "filter")
    if any("глубокая" in m or "Слишком" in m for ms in errors.values() for m in ms):
        return
    assert errors == {}
    assert parsed == root
