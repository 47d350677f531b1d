"""The event journal pages (both sides): list with filters and paging, event detail, retry one / retry all."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from bx_app import intake, journal_view, personal_data, progress
from bx_app.extensions import db
from bx_app.integration.event_fields import facts_from_event
from bx_app.models import Credential, Event, UisAccount
from bx_app.models.event import EventStatus
from bx_app.web import setup_view
from bx_app.web.install import frame_for
from bx_app.web.time_display import viewer_zone
from bx_app.web.viewer import Viewer, current_viewer

log = logging.getLogger(__name__)
bp = Blueprint("journal", __name__)


UIS_LAYOUT = "uis/layout.html"  # the UIS side's own layout (its top bar: language, account, sign out)


# What a POST did, shown after its redirect. Inside the iframe the session is a token that is never
# written back, so flash() would be lost: the redirect carries `notice=<code>` instead (both sides).
NOTICES = {
    "retried": ("success", _l("Событие поставлено в очередь повторно.")),
    "not_failed": ("warning", _l("Повторить можно только событие с ошибкой.")),
    "retry_started": ("success", _l("Повтор всех ошибок запущен.")),
    "retry_running": ("info", _l("Повтор ошибок уже выполняется.")),
    "nothing_failed": ("info", _l("Событий с ошибкой нет.")),
    "queue_down": ("danger", _l("Очередь задач недоступна, попробуйте позже.")),
    "saved": ("success", _l("Настройки сохранены.")),
}


def current_notice() -> tuple[str, str] | None:
    notice = NOTICES.get(request.args.get("notice", ""))
    return (notice[0], str(notice[1])) if notice else None


def _layout(viewer: Viewer) -> str:
    return UIS_LAYOUT if viewer.side == "uis" else viewer.layout


def render_for_viewer(viewer: Viewer, credential: Credential | None, template: str, status: int = 200,
                      **context):
    """Render a page in the viewer's layout; inside the iframe only the portal may frame it."""
    if viewer.side == "uis":
        context.update(
            uis_account=db.session.get(UisAccount, viewer.uis_account_id),
            uis_home_url=(url_for("uis_side.credential", credential_id=credential.id) if credential
                          else url_for("uis_side.credentials")))
    response = current_app.make_response(
        (render_template(template, viewer=viewer, credential=credential, layout=_layout(viewer),
                         notice=current_notice(), **context),
         status))
    if viewer.side == "portal":
        origin = credential.portal.portal_url if credential is not None else None
        return frame_for(response, origin)
    return response


def choose_credential(viewer: Viewer, endpoint: str, title: str):
    """`/journal` and `/settings`: go straight to the only credential, or let the viewer pick one (S4)."""
    credentials = viewer.credentials()
    if len(credentials) == 1:
        return redirect(url_for(endpoint, credential_id=credentials[0].id))
    return render_for_viewer(viewer, None, "journal/choose.html", credentials=credentials,
                             endpoint=endpoint, title=title)


@bp.get("/journal")
def choose():
    return choose_credential(current_viewer(), "journal.index", _("Журнал"))


@bp.get("/journal/<int:credential_id>")
def index(credential_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    form = journal_view.filter_form(request.args)
    tz = viewer_zone()  # the days typed in the filter are the viewer's, as are the times shown
    page = None
    status = 200
    if form.validate():
        query = journal_view.events_query(credential.id, form.status.data or None, form.kind.data or None,
                                          form.date_from.data, form.date_to.data, tz)
        page = journal_view.page_of(query, form.page.data or 1)
    else:
        status = 400
    task = progress.latest(journal_view.retry_scope(credential.id), journal_view.RETRY_ALL_KIND)
    failed_count = Event.query.filter_by(credential_id=credential.id, status=EventStatus.FAILED).count()
    return render_for_viewer(
        viewer, credential, "journal/index.html", status=status, active_tab="journal", form=form, page=page,
        tz=tz, task=task, failed_count=failed_count, filters=journal_view.filter_args(request.args),
        jv=_journal_view_for(viewer), portal_url=credential.portal.portal_url)


def _sees_contacts(viewer: Viewer) -> bool:
    """Portal administrators and the UIS account see customers' phones and e-mails; other users masked."""
    return viewer.side == "uis" or viewer.can_edit


def _journal_view_for(viewer: Viewer):
    return journal_view if _sees_contacts(viewer) else journal_view.MaskedJournalView()


def _event_of(credential: Credential, event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None or event.credential_id != credential.id:
        abort(404, description=_("Событие не найдено."))
    return event


@bp.get("/journal/<int:credential_id>/events/<int:event_id>")
def event_detail(credential_id: int, event_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    event = _event_of(credential, event_id)
    payload = dict(event.payload or {})
    extra = {k[1:]: payload.pop(k) for k in ("_chat", "_visitor") if isinstance(payload.get(k), dict)}
    facts = facts_from_event(event.kind, event.stage, payload, event.occurred_at,
                             {**(extra.get("chat") or {}), **(extra.get("visitor") or {})})
    plan = (event.result or {}).get("plan") or {} if isinstance(event.result, dict) else {}
    shown_payload, shown_result = event.payload or {}, event.result
    if not _sees_contacts(viewer):
        facts, plan = journal_view.masked(facts), journal_view.masked(plan)
        shown_payload, shown_result = journal_view.masked(shown_payload), journal_view.masked(shown_result)
    return render_for_viewer(
        viewer, credential, "journal/event.html", active_tab="journal", event=event, facts=facts,
        plan=plan,
        user_name=setup_view.user_namer(credential.id), command_words=setup_view.COMMAND_WORDS,
        tz=viewer_zone(), jv=_journal_view_for(viewer), portal_url=credential.portal.portal_url,
        payload_json=json.dumps(shown_payload, ensure_ascii=False, indent=2, sort_keys=True),
        result_json=json.dumps(shown_result, ensure_ascii=False, indent=2, sort_keys=True)
        if shown_result is not None else None,
        filters=journal_view.filter_args(request.args))


@bp.post("/journal/<int:credential_id>/events/<int:event_id>/retry")
def retry_event(credential_id: int, event_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    viewer.require_edit()
    event = _event_of(credential, event_id)
    retried = event.status == EventStatus.FAILED and intake.retry_events(credential.id, [event.id])
    return _back_to_journal(credential, "retried" if retried else "not_failed")


@bp.route("/journal/<int:credential_id>/erase", methods=["GET", "POST"])
def erase_customer(credential_id: int):
    """An administrator finds one customer's events by phone or e-mail and erases their personal data."""
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    viewer.require_edit()
    contact = (request.values.get("contact") or "").strip()[:200]
    erased = None
    if request.method == "POST" and request.form.get("confirm") == "1":
        erased = personal_data.erase_customer(credential.id, contact)
        found = []
    else:
        found = personal_data.events_of_customer(credential.id, contact) if contact else []
    return render_for_viewer(viewer, credential, "journal/erase.html", active_tab="journal", contact=contact,
                             found=found, erased=erased, tz=viewer_zone(), jv=journal_view)


@bp.post("/journal/<int:credential_id>/retry-failed")
def retry_failed(credential_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    viewer.require_edit()
    task = progress.latest(journal_view.retry_scope(credential.id), journal_view.RETRY_ALL_KIND)
    if progress.is_running(task):
        notice = "retry_running"
    elif not journal_view.failed_event_ids(credential.id):
        notice = "nothing_failed"
    else:
        try:
            journal_view.start_retry_all(credential.id)
        except Exception:  # noqa: BLE001 - Redis down: say so, keep the page working
            log.exception("cannot start the retry of failed events for credential %s", credential.id)
            notice = "queue_down"
        else:
            notice = "retry_started"
    return _back_to_journal(credential, notice)


def _back_to_journal(credential: Credential, notice: str):
    return redirect(url_for("journal.index", credential_id=credential.id, notice=notice,
                            **journal_view.filter_args(request.args, keep_page=True)))


@bp.get("/journal/<int:credential_id>/tasks/<task_id>")
def task_state(credential_id: int, task_id: str):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    task = progress.read(task_id)
    if task is None or task["scope"] != journal_view.retry_scope(credential.id):
        abort(404, description=_("Задача не найдена."))
    return jsonify({key: task[key] for key in ("id", "kind", "state", "total", "done", "percent", "finished",
                                               "message")})
