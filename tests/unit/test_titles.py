"""Title templates (G3): placeholders validated, rendered from facts, capped at 255 characters."""
from __future__ import annotations

import pytest

from bx_app.integration.titles import MAX_LENGTH, PLACEHOLDERS, render_title, validate_template

FACTS = {"kind": "offline_message", "id": "5501", "site": "shop.example.ru", "visitor_name": "Анна",
         "phone": "79161234567", "form_name": "Обратный звонок", "utm_source": "yandex", "date": "07.03.2026",
         "channel_name": None, "tags": ["VIP", "Опт"]}


@pytest.mark.parametrize("template, errors", [
    ("Заявка с сайта {site}: {visitor_name}", []),
    ("{channel} {phone} {date} {utm_source} {form_name} {id}", []),
    ("Заявка {nope} {visitor}", ["{nope}, {visitor}"]),
    ("Заявка {site", ["Непарная"]),
    ("", ["Укажите шаблон"]),
    ("x" * (MAX_LENGTH + 1), ["255"]),
])
def test_G3_validate_template(template, errors):
    found = validate_template(template)
    assert len(found) == len(errors)
    for needle, message in zip(errors, found, strict=True):
        assert needle in message


@pytest.mark.parametrize("template, lang, title", [
    ("Офлайн заявка с сайта {site}: {visitor_name}", "ru", "Офлайн заявка с сайта shop.example.ru: Анна"),
    ("{channel} №{id} ({form_name})", "ru", "Офлайн заявка №5501 (Обратный звонок)"),
    ("{channel} #{id}", "en", "Offline request #5501"),
    ("Заявка: {email}, {phone}", "ru", "Заявка: 79161234567"),
    ("Теги: {tags}", "ru", "Теги: VIP, Опт"),
    ("{email}", "ru", "Офлайн заявка №5501"),
    ("{campaign} ()", "en", "Offline request #5501"),
])
def test_G3_render_title(template, lang, title):
    assert render_title(template, FACTS, lang) == title


def test_G3_title_is_capped():
    title = render_title("{visitor_name}", {"visitor_name": "Я" * 400}, "ru")
    assert len(title) == MAX_LENGTH and title.endswith("…")


def test_G3_placeholder_list_has_the_brief_examples():
    for name in ("channel", "visitor_name", "phone", "site", "form_name", "utm_source", "date", "id"):
        assert name in PLACEHOLDERS
