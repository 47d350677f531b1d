"""The setup checklist and its "Проверить" dry run, as the connection page of either side shows them."""
from __future__ import annotations

from flask import request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from bx_app import journal_view, reference_data, setup_checklist
from bx_app.integration.employees import b24_display_name
from bx_app.models import Credential

COMMAND_WORDS = {
    "crm.lead.add": _l("Лид"),
    "crm.deal.add": _l("Сделка"),
    "crm.contact.add": _l("Контакт"),
    "crm.activity.add": _l("Дело"),
    "crm.timeline.comment.add": _l("Комментарий в ленте"),
    "im.notify.system.add": _l("Уведомление ответственному"),
}


def user_namer(credential_id: int):
    names = {int(u["ID"]): b24_display_name(u) for u in reference_data.b24_users(credential_id)}

    def name(uid) -> str:
        try:
            return f"{names[int(uid)]} ({uid})"
        except (KeyError, TypeError, ValueError):
            return f"#{uid}"

    return name


def checklist_context(credential: Credential) -> dict:
    """What _setup_checklist.html needs; the dry run only when the page was asked with ?check=1."""
    lang = "en" if str(get_locale() or "ru").startswith("en") else "ru"
    dry_runs = setup_checklist.dry_run(credential, lang) if request.args.get("check") else None
    return {
        "checklist": setup_checklist.checklist(credential),
        "dry_runs": dry_runs,
        "tz": journal_view.timezone_of(credential),
        "jv": journal_view,
        "command_words": {k: str(v) for k, v in COMMAND_WORDS.items()},
        "user_name": user_namer(credential.id),
    }
