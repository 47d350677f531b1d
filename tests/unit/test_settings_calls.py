"""The "Звонки" tab (G1–G5 for calls): its own switch and save, which calls pass, bad input next to the field."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from bx_app import settings_store
from bx_app.extensions import db
from bx_app.models import ChannelSettings, Event
from tests.unit.factories import portal_token, two_accounts
from tests.unit.test_settings_channels import page, posted_from, resubmit, synced


@pytest.fixture
def world(app):
    return two_accounts()

FULL_CALLS = {
    "directions": ["in"], "outcomes": ["answered"], "min_talk_seconds": 15,
    "filter": {"op": "or", "items": [{"field": "virtual_number", "operator": "eq", "value": "74951234567"},
                                     {"op": "and", "items": [{"field": "incoming", "operator": "eq", "value": True},
                                                             {"field": "talk_duration", "operator": "gt",
                                                              "value": 60}]}]},
    "responsible_rules": [{"name": "Сценарий", "filter": {"op": "and", "items": [
        {"field": "scenario", "operator": "contains", "value": "продаж"}]}, "responsible": {"type": "user",
                                                                                         "user_id": 7}}],
    "use_employee_match": True, "default_responsible_id": 15, "contact_kinds": "first", "repeat_action": "attach",
    "entity": "activity", "lead_deal": {"type": "lead", "category_id": None, "stage_id": None},
    "create_on": "start", "pass_without_contacts": True, "notify": True, "transcript_to": "comments",
    "title_template": {"lead": "Звонок {phone} на {virtual_number}", "deal": "Звонок {phone}", "activity": "Звонок №{id}"},
    "field_map": [],
}


def test_the_calls_tab_is_its_own_section_with_its_switch_and_save(app, client, world):
    cred = world["mine"]
    html = page(client, app, cred, "calls").get_data(as_text=True)
    assert 'id="tab-calls"' in html and 'class="b24-tab active" id="tab-calls"' in html
    assert "— для звонков" in html and 'id="save-section"' in html and 'id="section-chats"' not in html
    for words in ("Какие звонки передавать", "входящие", "исходящие", "отвеченные", "пропущенные",
                  "Минимальная длительность разговора", "при начале звонка", "Дело (звонок телефонии"):
        assert words in html, words
    assert settings_store.load_channel(cred.id, "calls").active is False  # off until an administrator saves it


def test_render_save_reload_is_the_identity_for_calls(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    settings_store.save_channel(cred.id, "calls", True, FULL_CALLS)
    before = settings_store.load_channel(cred.id, "calls")
    response = resubmit(client, app, cred, "calls")
    assert response.status_code == 302 and "notice=saved" in response.location
    assert settings_store.load_channel(cred.id, "calls") == before


def test_bad_call_options_are_refused_next_to_their_field(app, client, world):
    cred = world["mine"]
    html = page(client, app, cred, "calls").get_data(as_text=True)
    data = [(k, v) for k, v in posted_from(html, "section-form") if k not in ("directions", "min_talk_seconds")]
    data += [("min_talk_seconds", "полминуты"), ("action", "save")]
    response = client.post(f"/settings/{cred.id}/channels/calls", data=MultiDict(data),
                           query_string={"_s": portal_token(app, cred)})
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Отметьте входящие, исходящие или оба." in text and "Целое число секунд, например 10." in text
    assert settings_store.load_channel(cred.id, "calls").directions == ("in", "out")  # nothing stored


def test_preview_of_unsaved_call_options_on_recent_calls(app, client, world):
    cred = world["mine"]
    synced(cred.id)
    for n, talk in enumerate((5, 120)):
        db.session.add(Event(credential_id=cred.id, kind="call", stage="finished", external_id=str(900 + n),
                             dedupe_key=f"c{n}", source="push", payload={
                                 "call_session_id": 900 + n, "direction": "in", "contact_phone_number": "79161112233",
                                 "virtual_phone_number": "74951234567", "talk_time_duration": talk}))
    db.session.commit()
    response = resubmit(client, app, cred, "calls", action="preview", extra={"min_talk_seconds": "30"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="preview"' in html
    assert html.count("preview-passed") == 1 and html.count("preview-filtered") == 1
    assert "Звонок +79161112233" in html
    assert ChannelSettings.query.count() == 0  # preview never saves


def test_the_calls_tab_offers_only_what_bitrix24s_telephony_does_for_calls(app, client, world):
    cred = world["mine"]
    html = page(client, app, cred, "calls").get_data(as_text=True)
    # The call's activity is named by Bitrix24's telephony: no "Дело" title to fill, and it says why.
    assert 'id="title_activity"' not in html and 'id="call-activity-subject"' in html
    assert "Лид/Сделка с делом звонка" in html and 'value="lead_deal_activity"' not in html
    assert "привязать звонок к открытому лиду или к контакту открытой сделки" in html
    placeholders = html.split('id="placeholders"')[1].split("</ul>")[0]
    assert "{phone}" in placeholders and "{virtual_number}" in placeholders
    assert "{utm_source}" in placeholders  # call tracking knows the visit
    assert "{channel_type}" not in placeholders and "{channel_id}" not in placeholders  # a chat's only

    settings_store.save_channel(cred.id, "calls", True, dict(FULL_CALLS, entity="lead_deal_activity"))
    html = page(client, app, cred, "calls").get_data(as_text=True)
    assert 'value="lead_deal_activity"' in html and "то же, что «Лид/Сделка с делом звонка»" in html  # kept shown


def test_the_chats_tab_keeps_the_activity_title_and_its_placeholders(app, client, world):
    cred = world["mine"]
    html = page(client, app, cred, "chats").get_data(as_text=True)
    assert 'id="title_activity"' in html and 'id="call-activity-subject"' not in html
    placeholders = html.split('id="placeholders"')[1].split("</ul>")[0]
    assert "{channel_type}" in placeholders and "{virtual_number}" not in placeholders
