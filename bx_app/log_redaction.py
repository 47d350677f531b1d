"""Secrets never reach a log line: session, hook, claim, OAuth and Data API tokens are masked in every record.

Installed as the process's log-record factory (by the app factory, the worker and gunicorn's config), so
it covers the app's own loggers, libraries' (requests/urllib3 put URLs with `auth=` into exception
texts) and gunicorn's access log alike, whatever handler writes them.
"""
from __future__ import annotations

import logging
import re

MASK = "***"

_PATTERNS = [
    # Path segments that are credentials: the UIS hook address and the install claim link.
    (re.compile(r"(/hooks/uis/)[^/?\s\"']+"), rf"\g<1>{MASK}"),
    (re.compile(r"(/uis/claim/)[^/?\s\"']+"), rf"\g<1>{MASK}"),
    # key=value in query strings, form bodies and reprs; "key": "value" in JSON and dict reprs.
    (re.compile(r"(?i)((?:^|[?&;\s,({\[])[\"']?(?:_s|auth|auth_id|refresh_id|access_token|refresh_token|"
                r"application_token|client_secret|code|data_api_token|token|hook_token|x-app-session|"
                r"auth\[access_token\]|auth\[refresh_token\]|auth\[application_token\])[\"']?\s*[=:]\s*[\"']?)"
                r"[^\"'&\s,;)}\]]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{MASK}"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_formatter = logging.Formatter()
_installed = False


def install() -> None:
    """Make every log record of this process carry its message (and traceback) with secrets masked."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's problem, not ours
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
