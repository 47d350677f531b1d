"""Title templates of created entities (G3): validate placeholders and render a title from an event's facts."""
from __future__ import annotations

import re

from bx_app import channels
from bx_app.integration import event_fields as ef
from bx_app.integration.words import Translate, russian

MAX_LENGTH = 255
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

# Placeholder → (Russian label, English label); the catalog's text fields plus a few of their own.
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "id": ("номер обращения в UIS", "UIS id"),
    "date": ("дата (ДД.ММ.ГГГГ)", "date (DD.MM.YYYY)"),
    "time": ("время (ЧЧ:ММ)", "time (HH:MM)"),
    "channel": ("канал чата или вид обращения («Офлайн заявка», «Звонок»)",
                "chat channel or the kind (\"Offline request\", \"Call\")"),
    **{name: (f.label_ru, f.label_en) for name, f in ef.FIELDS.items()
       if f.type in (ef.STRING, ef.ID, ef.NUMBER, ef.TAGS) and name not in ("text",)},
}
_KIND_WORDS = {c.kind: (c.word("ru", "kind"), c.word("en", "kind")) for c in channels.CHANNELS}
_ALWAYS = ("id", "date", "time", "channel")


def placeholders_for(channel: str) -> dict[str, tuple[str, str]]:
    """The placeholders an event of this settings channel fills (the list its tab shows): the common ones,
    then the channel's own fields (a call's number, scenario…), then the fields it shares with others."""
    catalog = ef.catalog_for(channel)
    shown = [name for name in PLACEHOLDERS if name in _ALWAYS or name in catalog]
    rank = {name: 0 if name in _ALWAYS else 1 if catalog[name].channels == (channel,) else 2 for name in shown}
    return {name: PLACEHOLDERS[name] for name in sorted(shown, key=lambda n: rank[n])}


def placeholders_in(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text or "")


def validate_template(text, _: Translate = russian) -> list[str]:
    """Messages about the template (unknown placeholders, stray braces, length); [] when it is fine."""
    if not isinstance(text, str) or not text.strip():
        return [_("Укажите шаблон названия.")]
    errors: list[str] = []
    if len(text) > MAX_LENGTH:
        errors.append(_("Не длиннее %(n)d символов.", n=MAX_LENGTH))
    unknown = [p for p in placeholders_in(text) if p not in PLACEHOLDERS]
    if unknown:
        errors.append(_("Неизвестные подстановки: %(names)s.", names=", ".join("{" + p + "}" for p in unknown)))
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        errors.append(_("Непарная фигурная скобка."))
    return errors


def _shown(name: str, facts: dict, lang: str) -> str:
    if name == "channel":
        kind_words = _KIND_WORDS.get(facts.get("kind") or "", ("", ""))
        value = facts.get("channel_name") or kind_words[1 if lang == "en" else 0]
    else:
        value = facts.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_title(template: str, facts: dict, lang: str = "ru") -> str:
    """The title with placeholders filled; empty ones leave no dangling separators; at most 255 characters."""
    title = _PLACEHOLDER.sub(lambda m: _shown(m.group(1), facts, lang), template or "")
    title = re.sub(r"\s+", " ", title)
    title = re.sub(r"\s+([,:;.)])", r"\1", title)
    title = re.sub(r"([(])\s+", r"\1", title)
    title = re.sub(r"\(\)", "", title)
    title = re.sub(r"([:,;])(\s*[:,;])+", r"\1", title)
    title = title.strip(" :;,-—–")
    if not title:
        kind_words = _KIND_WORDS.get(facts.get("kind") or "", ("Обращение", "Request"))
        title = kind_words[1 if lang == "en" else 0]
        if facts.get("id"):
            title += f" №{facts['id']}" if lang != "en" else f" #{facts['id']}"
    if len(title) > MAX_LENGTH:
        title = title[:MAX_LENGTH - 1].rstrip() + "…"
    return title
