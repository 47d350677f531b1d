"""The event-field catalog and facts_from_event: one flat dict per event, derived fields included."""
from __future__ import annotations

from datetime import datetime

import pytest

from bx_app.integration import event_fields as ef
from bx_app.integration.event_fields import facts_from_event

CHAT_ROW = {"id": 880011223, "chat_channel_id": 3102, "chat_channel_type": "whatsapp",
            "chat_channel_name": "WhatsApp отдела продаж", "site_domain_name": "shop.example.ru", "site_id": 7301,
            "campaign_name": "Яндекс.Директ", "campaign_id": "5501", "utm_source": "yandex", "utm_medium": " cpc ",
            "tags": [{"tag_id": 1, "tag_name": "VIP"}, {"tag_id": 2, "tag_name": "Опт"}], "employee_id": 45012,
            "employee_full_name": "Иванов Иван Иванович", "status": "succeed", "visitor_city": "Москва",
            "visitor_region": "Московская область", "visitor_phone_number": "79161234567",
            "date_time": "2026-03-02 22:15:00", "communication_number": 2}
OFFLINE_HOOK = {"offline_message_id": 5501, "visitor_name": "Анна", "visitor_email": "anna@example.ru",
                "visitor_phone_number": None, "visitor_message": "Перезвоните", "site_domain_name": "example.ru",
                "form_name": "Обратный звонок", "tag_names": "Опт, Сайт"}


def test_chat_facts_include_channel_employee_tags_and_time():
    facts = facts_from_event("chat", "finished", CHAT_ROW, None)
    assert facts["channel_id"] == 3102 and facts["channel_type"] == "whatsapp"
    assert facts["site"] == "shop.example.ru" and facts["site_id"] == 7301
    assert facts["campaign"] == "Яндекс.Директ" and facts["campaign_id"] == 5501
    assert facts["utm_source"] == "yandex" and facts["utm_medium"] == "cpc" and facts["utm_term"] is None
    assert facts["tags"] == ["VIP", "Опт"]
    assert facts["employee_id"] == 45012 and facts["status"] == "succeed"
    assert facts["visitor_city"] == "Москва" and facts["visitor_region"] == "Московская область"
    assert facts["has_phone"] is True and facts["has_email"] is False and facts["phone"] == "79161234567"
    assert facts["hour"] == 22 and facts["weekday"] == 1  # 2 March 2026 is a Monday
    assert facts["form_name"] is None and facts["id"] == "880011223"
    assert facts["communication_number"] == 2


def test_offline_facts_from_a_notification():
    when = datetime(2026, 3, 7, 9, 30)
    facts = facts_from_event("offline_message", "arrived", OFFLINE_HOOK, when)
    assert facts["form_name"] == "Обратный звонок" and facts["text"] == "Перезвоните"
    assert facts["has_email"] is True and facts["has_phone"] is False
    assert facts["tags"] == ["Опт", "Сайт"] and facts["channel_id"] is None
    assert (facts["hour"], facts["weekday"], facts["date"], facts["time"]) == (9, 6, "07.03.2026", "09:30")
    assert facts["id"] == "5501"


def test_extra_overrides_the_payload():
    facts = facts_from_event("chat", "finished", {"visitor_phone_number": None}, None,
                             extra={"phone": "+79160000000", "email": "a@b.ru", "text": "Здравствуйте"})
    assert facts["has_phone"] and facts["has_email"] and facts["text"] == "Здравствуйте"
    assert facts["hour"] is None


def test_every_catalog_field_is_in_the_facts_and_fits_its_type():
    facts = facts_from_event("chat", "finished", CHAT_ROW, None)
    for name, field in ef.FIELDS.items():
        assert name in facts
        value = facts[name]
        if value is None:
            continue
        expected = {ef.STRING: str, ef.NUMBER: (int, float), ef.ID: int, ef.BOOL: bool, ef.TAGS: list}[field.type]
        assert isinstance(value, expected), name


@pytest.mark.parametrize("channel, has, lacks", [
    ("chats", ["channel_id", "text", "hour"], ["form_name"]),
    ("offline", ["form_name", "text", "site"], ["channel_id"]),
    ("calls", ["site", "hour"], ["text", "form_name", "channel_id"]),
])
def test_catalog_per_channel(channel, has, lacks):
    catalog = ef.catalog_for(channel)
    assert all(n in catalog for n in has) and not any(n in catalog for n in lacks)


def test_operators_fit_types():
    assert "between" in ef.FIELDS["hour"].operators and "contains" not in ef.FIELDS["hour"].operators
    assert "contains" in ef.FIELDS["site"].operators and "gt" not in ef.FIELDS["site"].operators
    assert ef.FIELDS["has_phone"].operators == ("eq",)
    assert set(ef.OPERATOR_LABELS) >= {op for ops in ef.OPERATORS.values() for op in ops}
