"""A chat's messages as text for Bitrix24 (C9): times, authors, files as links, truncated with a note."""
from __future__ import annotations

import html

COMMENTS_LIMIT = 60_000  # the entity's COMMENTS and a timeline comment: keep well inside Bitrix24's limits

_AUTHORS = {
    "ru": {"visitor": "Посетитель", "operator": "Оператор", "system": "Система", "chatbot": "Чат-бот",
           "retention": "Удержание", "autoinvite": "Автоприглашение", "form_text": "Форма",
           "chat_channel": "Канал", "other": "Сообщение", "file": "Файл", "empty": "Сообщений нет.",
           "cut": "… переписка сокращена: показаны {shown} из {total} сообщений."},
    "en": {"visitor": "Visitor", "operator": "Operator", "system": "System", "chatbot": "Chatbot",
           "retention": "Retention", "autoinvite": "Auto-invite", "form_text": "Form", "chat_channel": "Channel",
           "other": "Message", "file": "File", "empty": "No messages.",
           "cut": "… transcript shortened: {shown} of {total} messages shown."},
}


def _words(lang: str) -> dict:
    return _AUTHORS["ru" if lang == "ru" else "en"]


def author_of(message: dict, visitor_name: str | None, lang: str) -> str:
    w = _words(lang)
    source = str(message.get("source") or "other")
    if source == "visitor":
        return (visitor_name or "").strip() or w["visitor"]
    if source == "operator":
        return str(message.get("employee_full_name") or "").strip() or w["operator"]
    return w.get(source, w["other"])


def _time_of(message: dict) -> str:
    stamp = str(message.get("date_time") or "")
    return stamp[11:19] if len(stamp) >= 19 else stamp


def message_lines(messages: list[dict], visitor_name: str | None, lang: str) -> list[str]:
    """One plain-text line per message, oldest first: `[14:05:12] Анна: text (file: url)`."""
    w = _words(lang)
    ordered = sorted((m for m in messages or [] if isinstance(m, dict)),
                     key=lambda m: (str(m.get("date_time") or ""), m.get("id") or 0))
    lines = []
    for message in ordered:
        text = str(message.get("text") or "").strip()
        resource = message.get("resource") or {}
        if isinstance(resource, dict) and resource.get("file_url"):
            link = f"{w['file']}: {resource.get('file_name') or ''} {resource['file_url']}".replace("  ", " ")
            text = f"{text} ({link})" if text else link
        lines.append(f"[{_time_of(message)}] {author_of(message, visitor_name, lang)}: {text}")
    return lines


def render(messages: list[dict], visitor_name: str | None, lang: str, as_html: bool,
           limit: int = COMMENTS_LIMIT, heading: str | None = None) -> str:
    """The transcript; when longer than `limit`, the last messages are dropped and a note says so."""
    w = _words(lang)
    lines = message_lines(messages, visitor_name, lang)
    cap = max(200, limit // 2)  # one huge message never pushes out all the others
    lines_out = [line if len(line) <= cap else line[:cap] + " …" for line in lines] or [w["empty"]]
    head = [heading] if heading else []

    def join(parts: list[str]) -> str:
        if as_html:
            return "<br>".join(html.escape(p).replace("\n", "<br>") for p in parts)
        return "\n".join(parts)

    body = join(head + lines_out)
    if len(body) <= limit:
        return body
    note = w["cut"]
    shown = len(lines_out)
    while shown > 0:
        shown -= 1
        kept = lines_out[:shown]
        candidate = join(head + kept + [note.format(shown=shown, total=len(lines_out))])
        if len(candidate) <= limit:
            return candidate
    return join(head + [note.format(shown=0, total=len(lines_out))])[:limit]
