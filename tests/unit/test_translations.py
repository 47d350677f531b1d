"""The English catalog covers every Russian msgid in the sources, and the app speaks English with it.

When a test here fails after you added or changed a string: run `scripts/i18n`, translate the empty
msgstrs in translations/en/LC_MESSAGES/messages.po (no "fuzzy" flags), run `scripts/i18n` again to
compile the .mo, and commit the .pot, .po and .mo together.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
REFRESH = "run scripts/i18n, translate the empty msgstrs in translations/en/LC_MESSAGES/messages.po, run scripts/i18n again"

KEYWORDS = dict(DEFAULT_KEYWORDS, _l=None, lazy_gettext=None)  # same as `pybabel extract -k _l -k lazy_gettext`
SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "tests", "sandbox", "var", "__pycache__"}
# %(name)s, %s, %d, %% ... as Python's %-formatting (and Jinja's newstyle gettext) reads them.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def _ids(msgid) -> tuple:
    return msgid if isinstance(msgid, tuple) else (msgid,)


@pytest.fixture(scope="module")
def source_messages() -> dict:
    """msgid -> ["file:line", ...] from bx_app/ and templates/, as scripts/i18n extracts them (babel.cfg)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))

    def directory_filter(path: str) -> bool:
        name = Path(path).name
        return not name.startswith((".", "_")) and name not in SKIPPED_DIRS

    found: dict = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=directory_filter,
        strip_comment_tags=True,
    ):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalog():
    with open(PO, "rb") as f:
        return read_po(f, locale="en")


def test_sources_have_translatable_strings(source_messages):
    # Guards the extraction itself: a broken babel.cfg would make the coverage test pass vacuously.
    assert len(source_messages) > 100
    assert "Главная" in source_messages
    assert not any("sandbox" in loc for locs in source_messages.values() for loc in locs)


def test_every_msgid_has_an_english_translation(source_messages, catalog):
    problems = []
    for msgid, locations in sorted(source_messages.items(), key=lambda item: item[1][0]):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(key)
        where = ", ".join(locations[:3])
        if entry is None:
            problems.append(f"not in the catalog: {msgid!r} ({where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where})")
        elif not all(_ids(entry.string)):
            problems.append(f"no English msgstr: {msgid!r} ({where})")
    if problems:
        pytest.fail(f"{len(problems)} msgid(s) without English ({REFRESH}):\n" + "\n".join(problems), pytrace=False)


def test_catalog_has_no_fuzzy_entries(catalog):
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries in {PO.name} (check the msgstr, then drop the fuzzy flag): {fuzzy}"


def test_placeholders_and_html_are_kept(catalog):
    problems = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        for msgid, msgstr in zip(_ids(message.id), _ids(message.string), strict=False):
            if not msgstr:
                continue
            if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr)):
                problems.append(f"placeholders differ: {msgid!r} -> {msgstr!r}")
            if sorted(HTML_TAG.findall(msgid)) != sorted(HTML_TAG.findall(msgstr)):
                problems.append(f"HTML differs: {msgid!r} -> {msgstr!r}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_english_msgstrs_are_not_russian(catalog):
    cyrillic = re.compile(r"[А-Яа-яЁё]")
    russian = [m.id for m in catalog if m.id and any(cyrillic.search(s) for s in _ids(m.string) if s)]
    assert not russian, f"English msgstrs with Cyrillic letters: {russian}"


def test_compiled_catalog_matches_the_po(catalog):
    with open(MO, "rb") as f:
        compiled = read_mo(f)
    stale = []
    for message in catalog:
        if not message.id or message.fuzzy or not all(_ids(message.string)):
            continue  # untranslated entries are not compiled; the coverage test names them
        entry = compiled.get(message.id)
        if entry is None or entry.string != message.string:
            stale.append(message.id)
    assert not stale, f"{MO.name} is older than {PO.name}: run scripts/i18n to compile it. Stale: {stale[:10]}"


# --- the app speaks English ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def app():
    from bx_app import create_app
    from tests.conftest import TEST_CONFIG

    return create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI="sqlite://"))


KNOWN = {
    "Главная": "Main",
    "Сохранить": "Save",
    "Интеграция активна": "Integration active",
    "Журнал": "Journal",
    "Подключить интеграцию": "Connect integration",
    "Учётные данные": "Credentials",
    "Дело": "Activity",
    "Приложение UIS 2.0 установлено": "The UIS 2.0 app is installed",
}


@pytest.mark.parametrize(("russian", "english"), sorted(KNOWN.items()))
def test_known_strings_in_english(app, russian, english):
    from flask_babel import gettext

    with app.test_request_context("/?lang=en"):
        assert gettext(russian) == english
    with app.test_request_context("/?lang=ru"):
        assert gettext(russian) == russian


def test_manual_sync_label_in_english(app, catalog):
    # The settings window's button; it may not be in the sources yet.
    from flask_babel import gettext

    if "Ручная синхронизация" not in catalog:
        pytest.skip("no «Ручная синхронизация» in the sources yet")
    with app.test_request_context("/?lang=en"):
        assert gettext("Ручная синхронизация") == "Manual sync"


def test_python_placeholders_format_in_english(app):
    from flask_babel import gettext

    with app.test_request_context("/?lang=en"):
        assert gettext("Всего: %(n)s", n=7) == "Total: 7"


def test_lazy_strings_follow_the_request_locale(app):
    from bx_app.journal_view import ENTITY_PATHS, STATUS_WORDS

    with app.test_request_context("/?lang=en"):
        assert str(ENTITY_PATHS["lead_id"][0]) == "Lead"
        assert {str(v) for v in STATUS_WORDS.values()} >= {"Done", "Error"}
    with app.test_request_context("/?lang=ru"):
        assert str(ENTITY_PATHS["lead_id"][0]) == "Лид"


@pytest.mark.parametrize(("query", "lang", "word"), [("?lang=en", "en", "Main"), ("?lang=ru", "ru", "Главная"),
                                                     ("?lang=de", "en", "Main"), ("", "ru", "Главная")])
def test_base_template_declares_the_active_locale(app, query, lang, word):
    from flask import render_template_string

    page = '{% extends "base.html" %}{% block content %}<p>{{ _("Главная") }}</p>{% endblock %}'
    with app.test_request_context("/" + query, headers={"Accept-Language": "ru"}):
        html = render_template_string(page)
    assert f'<html lang="{lang}">' in html
    assert f"<p>{word}</p>" in html
