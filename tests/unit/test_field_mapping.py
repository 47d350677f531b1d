"""G4 field mapping: rows checked against synced Bitrix24 fields (UF_CRM_* with labels), applied to facts."""
from __future__ import annotations

import pytest

from bx_app.integration.field_mapping import apply_rows, field_label, mappable_fields, validate_rows
from bx_app.sandbox.portal.crm_catalog import fields_of

B24 = {entity: fields_of(entity, set()) for entity in ("lead", "deal", "contact")}
FACTS = {"site": "shop.example.ru", "visitor_city": "Москва", "channel_type": "whatsapp", "tags": ["VIP", "Опт"],
         "communication_number": 3, "has_phone": True, "utm_source": None}


def row(uis_field, entity, b24_field, value_map=None):
    return {"uis_field": uis_field, "entity": entity, "b24_field": b24_field, "value_map": value_map}


GOOD = [
    row("visitor_city", "lead", "UF_CRM_1709112244"),
    row("channel_type", "deal", "UF_CRM_1709113302", {"whatsapp": "72", "comagic": "73"}),
    row("tags", "lead", "COMMENTS"),
    row("communication_number", "deal", "PROBABILITY"),
    row("utm_source", "contact", "UTM_SOURCE"),
]


def test_G4_valid_rows_and_their_values():
    assert validate_rows(GOOD, B24) == []
    assert apply_rows(GOOD, FACTS, B24) == {
        "lead": {"UF_CRM_1709112244": "Москва", "COMMENTS": "VIP, Опт"},
        "deal": {"UF_CRM_1709113302": "72", "PROBABILITY": 3},
    }


@pytest.mark.parametrize("rows, path, needle", [
    ([row("nope", "lead", "COMMENTS")], "field_map[0].uis_field", "«nope»"),
    ([row("site", "company", "COMMENTS")], "field_map[0].entity", "лид, сделка или контакт"),
    ([row("site", "lead", "UF_CRM_GONE")], "field_map[0].b24_field", "UF_CRM_GONE"),
    ([row("site", "lead", "DATE_CREATE")], "field_map[0].b24_field", "только для чтения"),
    ([row("site", "lead", "ASSIGNED_BY_ID")], "field_map[0].b24_field", "заполняет сама интеграция"),
    ([row("site", "lead", "BIRTHDATE")], "field_map[0].b24_field", "не поддерживается"),
    ([row("site", "deal", "PROBABILITY")], "field_map[0].uis_field", "не подходит по типу"),
    ([row("channel_type", "lead", "UF_CRM_1709112233")], "field_map[0].value_map", "«Тип обращения» — список"),
    ([row("channel_type", "lead", "UF_CRM_1709112233", {"whatsapp": "99"})], "field_map[0].value_map", "«99»"),
    ([row("site", "lead", "COMMENTS"), row("tags", "lead", "COMMENTS")], "field_map[1].b24_field", "уже"),
])
def test_G4_bad_rows_are_refused_with_a_reason(rows, path, needle):
    errors = validate_rows(rows, B24)
    assert any(e.path == path and needle in e.message for e in errors), [str(e) for e in errors]


def test_G4_custom_fields_have_human_labels_and_are_mappable():
    assert field_label(B24["lead"]["UF_CRM_1709112233"], "UF_CRM_1709112233") == "Тип обращения"
    assert field_label(B24["lead"]["TITLE"], "TITLE") == "Название лида"
    lead = mappable_fields(B24, "lead")
    assert "UF_CRM_1709112244" in lead and "DATE_CREATE" not in lead and "TITLE" not in lead


def test_G4_unmapped_enumeration_value_gives_nothing():
    rows = [row("channel_type", "deal", "UF_CRM_1709113302", {"telegram": "72"})]
    assert apply_rows(rows, FACTS, B24) == {}
    assert apply_rows([row("site", "lead", "UF_CRM_DELETED")], FACTS, B24) == {}
