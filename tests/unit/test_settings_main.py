"""The Main settings tab ("Главная", S1–S3) and the settings store behind it."""
from __future__ import annotations

import pytest

from bx_app import settings_store
from bx_app.extensions import db
from bx_app.models import ChannelSettings
from bx_app.typed_settings import InvalidSetting
from tests.unit.factories import portal_token, two_accounts


@pytest.fixture
def world(app):
    return two_accounts()


VALID = {"active": "y", "default_responsible_id": "15", "lead_source_offline": "WEBFORM",
         "lead_source_chats": "UC_CHAT1"}


# --- the store ------------------------------------------------------------------------------------
def test_defaults_without_saved_rows(app, world):
    settings = settings_store.load_settings(world["mine"].id).as_dict()
    assert settings["main"] == {"active": False, "default_responsible_id": 7, "deal_category_id": 0,
                                "deal_stage_id": None,
                                "lead_source": {"offline": "WEBFORM", "chats": "OTHER", "calls": "CALL"}}
    assert settings["offline"]["active"] is True and settings["chats"]["active"] is True
    assert settings["calls"]["active"] is False


def test_save_channel_round_trip_and_replace(app, world):
    cred = world["mine"]
    settings_store.save_channel(cred.id, "main", True,
                                {"default_responsible_id": 3, "lead_source": {"offline": "CALLBACK"}})
    main = settings_store.load_settings(cred.id).main.as_dict()
    assert main == {"active": True, "default_responsible_id": 3, "deal_category_id": 0, "deal_stage_id": None,
                    "lead_source": {"offline": "CALLBACK", "chats": "OTHER", "calls": "CALL"}}  # nested default kept
    settings_store.save_channel(cred.id, "main", False, {"active": True})  # options never carry the flag
    main = settings_store.load_settings(cred.id).main.as_dict()
    assert main["active"] is False and main["default_responsible_id"] == 7
    assert ChannelSettings.query.filter_by(credential_id=cred.id).count() == 1
    with pytest.raises(ValueError):
        settings_store.save_channel(cred.id, "fax", True, {})
    # one credential's settings never leak into another's
    assert settings_store.load_settings(world["other"].id).main.active is False


# --- the page -------------------------------------------------------------------------------------
def test_get_shows_the_defaults(app, client, world):
    cred = world["mine"]
    response = client.get(f"/settings/{cred.id}/main", query_string={"_s": portal_token(app, cred)})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("Главная", "Интеграция активна", "Сохранить", 'value="7"', 'value="WEBFORM"', 'value="OTHER"'):
        assert text in html
    assert 'id="active" name="active" type="checkbox" value="y">' in html  # not checked
    assert "frame-ancestors https://p1.bitrix24.ru" in response.headers["Content-Security-Policy"]


def test_save_and_load_round_trip(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred)
    response = client.post(f"/settings/{cred.id}/main", data={**VALID, "_s": token})
    assert response.status_code == 302
    assert "notice=saved" in response.location and "_s=" in response.location
    page = client.get(response.location)
    html = page.get_data(as_text=True)
    assert "Настройки сохранены." in html
    assert 'value="15"' in html and 'value="UC_CHAT1"' in html and "checked" in html
    assert settings_store.load_settings(cred.id).main.as_dict() == {
        "active": True, "default_responsible_id": 15, "deal_category_id": 0, "deal_stage_id": None,
        "lead_source": {"offline": "WEBFORM", "chats": "UC_CHAT1", "calls": "CALL"}}
    # unchecking the flag turns the integration off, the rest stays
    client.post(f"/settings/{cred.id}/main", data={**VALID, "active": "", "_s": token})
    assert settings_store.load_settings(cred.id).main.active is False


@pytest.mark.parametrize("field, value, message", [
    ("default_responsible_id", "abc", "целое число"),
    ("default_responsible_id", "0", "больше нуля"),
    ("default_responsible_id", "", "Укажите ID"),
    ("lead_source_offline", "WEB FORM!", "латинские буквы"),
    ("lead_source_chats", "", "Укажите источник"),
    ("lead_source_chats", "X" * 51, "50"),
])
def test_invalid_input_is_shown_next_to_the_field_and_nothing_is_saved(app, client, world, field, value, message):
    cred = world["mine"]
    response = client.post(f"/settings/{cred.id}/main", data={**VALID, field: value, "_s": portal_token(app, cred)})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    # the error sits right after its own input
    field_html = html[html.index(f'id="{field}"'):]
    assert field_html.index("b24-field-error") < field_html.index("</div>")
    assert ChannelSettings.query.filter_by(credential_id=cred.id).count() == 0


def test_non_admin_sees_read_only_and_cannot_post(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred, admin=False)
    html = client.get(f"/settings/{cred.id}/main", query_string={"_s": token}).get_data(as_text=True)
    assert 'id="readonly-note"' in html and 'id="save-main"' not in html
    assert 'disabled id="default_responsible_id"' in html or "disabled" in html.split('id="default_responsible_id"')[0][-60:]
    response = client.post(f"/settings/{cred.id}/main", data={**VALID, "_s": token})
    assert response.status_code == 403
    assert ChannelSettings.query.count() == 0


def test_other_credentials_are_404(app, client, world):
    mine, other = world["mine"], world["other"]
    token = portal_token(app, mine)
    assert client.get(f"/settings/{other.id}/main", query_string={"_s": token}).status_code == 404
    assert client.post(f"/settings/{other.id}/main", data={**VALID, "_s": token}).status_code == 404
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    assert client.get(f"/settings/{mine.id}/main").status_code == 200
    assert client.get(f"/settings/{other.id}/main").status_code == 404
    assert ChannelSettings.query.count() == 0


def test_uis_side_saves_too(app, client, world):
    cred = world["mine"]
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    response = client.post(f"/settings/{cred.id}/main", data=VALID)
    assert response.status_code == 302
    assert settings_store.load_settings(cred.id).main.default_responsible_id == 15
    html = client.get(response.location).get_data(as_text=True)
    assert "Настройки сохранены." in html and "Журнал" in html


def test_settings_entry_points_redirect(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred)
    response = client.get("/settings", query_string={"_s": token})
    assert response.status_code == 302 and f"/settings/{cred.id}/main?" in response.location
    response = client.get(f"/settings/{cred.id}", query_string={"_s": token})
    assert response.status_code == 302 and f"/settings/{cred.id}/main" in response.location


def test_settings_needs_csrf_when_enabled(app, client, world):
    cred = world["mine"]
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/settings/{cred.id}/main", data={**VALID, "_s": portal_token(app, cred)})
    assert response.status_code == 400
    assert ChannelSettings.query.count() == 0


def test_G3_default_titles_follow_the_portal_language(app, world):
    portal = world["mine"].portal
    portal.lang = "en"

    db.session.commit()
    settings = settings_store.load_settings(world["mine"].id)
    assert settings.offline.title_template.lead.startswith("Offline request")
    portal.lang = "ru"
    db.session.commit()
    assert settings_store.load_settings(world["mine"].id).offline.title_template.lead.startswith("Офлайн")


def test_stored_values_of_the_wrong_shape_fall_back_to_their_defaults(app, world):
    """A damaged row (hand-edited JSON, an old format) never stops the engine: the value's default is used and named."""
    cred = world["mine"]
    db.session.add_all([  # written around the store, which refuses such values (below)
        ChannelSettings(credential_id=cred.id, channel="main", active=True,
                        options={"deal_category_id": "two", "lead_source": ["CALL"]}),
        ChannelSettings(credential_id=cred.id, channel="chats", active=True, options={
            "notify": "yes", "filter": {"op": "and", "items": ["tags"]}, "channels": {"mode": "all", "ids": [1, "x"]},
            "field_map": [{"uis_field": "tags", "entity": "lead", "b24_field": "UF_CRM_1", "value_map": None}]})])
    db.session.commit()
    settings = settings_store.load_settings(cred.id)
    assert settings.main.active is True and settings.main.deal_category_id == 0
    assert settings.main.lead_source == {"offline": "WEBFORM", "chats": "OTHER", "calls": "CALL"}
    assert settings.chats.notify is True and settings.chats.filter is None
    assert settings.chats.channels.ids == () and settings.chats.channels.mode == "all"
    assert settings.chats.field_map[0].b24_field == "UF_CRM_1"  # the valid values stay
    assert {p.split(":")[0] for p in settings.problems} == {
        "main.lead_source", "main.deal_category_id", "chats.notify", "chats.filter", "chats.channels"}


@pytest.mark.parametrize(("channel", "options", "named"), [
    ("main", {"deal_category_id": "two"}, "main.deal_category_id"),
    ("chats", {"notify": "yes"}, "chats.notify"),
    ("calls", {"min_talk_seconds": [15]}, "calls.min_talk_seconds"),
    ("offline", {"channels": {"mode": "all", "ids": []}}, "offline.channels: not a setting"),
])
def test_the_store_refuses_to_save_a_value_of_the_wrong_shape(app, world, channel, options, named):
    cred = world["mine"]
    with pytest.raises(InvalidSetting, match=named):
        settings_store.save_channel(cred.id, channel, True, options)
    assert ChannelSettings.query.filter_by(credential_id=cred.id).count() == 0


def test_every_documented_option_has_its_typed_member(app, world):
    """An option added to the store's defaults without a member in bx_app/typed_settings.py would never reach
    the planner: the parsed settings give back exactly the defaults' keys."""
    plain = settings_store.load_settings(world["mine"].id).as_dict()
    for key, defaults in settings_store.DEFAULTS.items():
        assert set(plain[key]) == set(defaults), key
