"""The settings window (both sides): Main tab with sync and employee matching, the chats and offline-request sections."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, jsonify, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from bx_app import (
    channels,
    journal_view,
    progress,
    reference_data,
    reference_sync,
    settings_forms,
    settings_store,
)
from bx_app.engine import preview as engine_preview
from bx_app.integration import event_fields as ef
from bx_app.integration import field_mapping, titles
from bx_app.integration.employees import b24_display_name
from bx_app.integration.filters import evaluate
from bx_app.integration.planner import facts_of
from bx_app.web.journal import NOTICES, choose_credential, render_for_viewer
from bx_app.web.viewer import current_viewer

log = logging.getLogger(__name__)
bp = Blueprint("settings", __name__)

# Standard Bitrix24 lead sources (crm.status.list ENTITY_ID=SOURCE) until the first sync brings the portal's own.
STANDARD_SOURCES = ("WEBFORM", "CALLBACK", "CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER",
                    "RECOMMENDATION", "TRADE_SHOW", "RC_GENERATOR", "STORE", "OTHER")
SECTIONS = tuple(c.key for c in channels.SETTINGS_TABS)

NOTICES.update({
    "sync_started": ("success", _l("Синхронизация запущена.")),
    "sync_running": ("info", _l("Синхронизация уже выполняется.")),
    "link_saved": ("success", _l("Сопоставление сотрудника сохранено.")),
    "link_invalid": ("danger", _l("Такого сотрудника UIS или пользователя Bitrix24 нет в справочниках.")),
})
SYNC_STEP_WORDS = {
    "bitrix": _l("Bitrix24: поля CRM, источники, воронки, режим CRM"),
    "users": _l("Bitrix24: пользователи"),
    "uis_employees": _l("UIS: сотрудники"),
    "uis_channels": _l("UIS: каналы чатов"),
    "uis_sites": _l("UIS: сайты и виртуальные номера"),
    "lines": _l("Bitrix24: внешние линии для виртуальных номеров UIS"),
    "matching": _l("Сопоставление сотрудников"),
}
REASON_WORDS = {
    "no_last_name": _l("В профиле Bitrix24 не указана фамилия"),
    "ambiguous": _l("Несколько пользователей с такими именем и фамилией"),
    "inactive": _l("Пользователь Bitrix24 уволен или неактивен"),
    "no_candidate": _l("Нет пользователя Bitrix24 с такими именем и фамилией"),
    "user_missing": _l("Пользователь Bitrix24 удалён"),
}


def _lang() -> str:
    return "en" if str(get_locale() or "ru").startswith("en") else "ru"


def reference_lists(credential_id: int) -> dict:
    return {
        "users": reference_data.b24_users(credential_id),
        "sources": reference_data.sources(credential_id),
        "pipelines": reference_data.pipelines(credential_id),
        "channels": reference_data.uis_channels(credential_id),
        "sites": reference_data.uis_sites(credential_id),
        "b24_fields": reference_data.b24_fields(credential_id),
        "crm_mode": reference_data.crm_mode(credential_id),
        "employees": reference_data.uis_employees(credential_id),
    }


def _page(viewer, credential, template: str, status: int = 200, **context):
    settings = settings_store.load_settings(credential.id)
    context.setdefault("ref", reference_lists(credential.id))
    return render_for_viewer(viewer, credential, template, status=status, main_active=settings.main.active,
                             credentials=viewer.credentials(), user_name=_user_namer(context["ref"]["users"]),
                             **context)


def _user_namer(users: list[dict]):
    names = {int(u["ID"]): b24_display_name(u) for u in users}

    def name(uid) -> str:
        if uid in (None, ""):
            return ""
        try:
            return f"{names[int(uid)]} ({uid})"
        except (KeyError, ValueError):
            return f"#{uid}"

    return name


@bp.get("/settings")
def choose():
    return choose_credential(current_viewer(), "settings.main", _("Настройки"))


@bp.get("/settings/<int:credential_id>")
def index(credential_id: int):
    """The settings window of a credential opens on its first tab."""
    current_viewer().credential(credential_id)
    return redirect(url_for("settings.main", credential_id=credential_id))


# --- Main -----------------------------------------------------------------------------------------
@bp.route("/settings/<int:credential_id>/main", methods=["GET", "POST"])
def main(credential_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    ref = reference_lists(credential.id)
    form = settings_forms.MainSettingsForm()
    status = 200
    if request.method == "POST":
        viewer.require_edit()
        valid = form.validate_on_submit()
        if valid and form.check_reference(ref["users"], ref["sources"], ref["pipelines"]):
            current = settings_store.load_channel(credential.id, "main").as_dict()
            options = {**{k: v for k, v in current.items() if k != "active"}, **form.options()}
            settings_store.save_channel(credential.id, "main", form.active.data, options)
            return redirect(url_for("settings.main", credential_id=credential.id, notice="saved"))
        status = 400
    else:
        form.fill_from(settings_store.load_channel(credential.id, "main").as_dict())
    task = progress.latest(reference_sync.scope_of(credential.id), reference_sync.TASK_KIND)
    links = reference_data.employee_links(credential.id)
    employees = [{"employee": e, "link": links.get(int(e["id"]))} for e in ref["employees"]]
    return _page(viewer, credential, "settings/main.html", status=status, active_tab="main", form=form, ref=ref,
                 standard_sources=STANDARD_SOURCES, task=task, last_sync=reference_data.last_sync(credential.id),
                 step_words=SYNC_STEP_WORDS, reason_words=REASON_WORDS, employees=employees,
                 link_form=settings_forms.CsrfForm())


@bp.post("/settings/<int:credential_id>/sync")
def start_sync(credential_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    viewer.require_edit()
    if not settings_forms.CsrfForm().validate_on_submit():
        abort(400)
    running = progress.is_running(progress.latest(reference_sync.scope_of(credential.id), reference_sync.TASK_KIND))
    try:
        reference_sync.start_sync(credential.id)
    except Exception:  # noqa: BLE001 - Redis or the queue is down: say so
        log.exception("cannot start the sync of credential %s", credential.id)
        return redirect(url_for("settings.main", credential_id=credential.id, notice="queue_down"))
    return redirect(url_for("settings.main", credential_id=credential.id,
                            notice="sync_running" if running else "sync_started", _anchor="sync"))


@bp.get("/settings/<int:credential_id>/sync/<task_id>")
def sync_state(credential_id: int, task_id: str):
    credential = current_viewer().credential(credential_id)
    task = progress.read(task_id)
    if task is None or task["scope"] != reference_sync.scope_of(credential.id):
        abort(404, description=_("Задача не найдена."))
    step = task.get("message") or ""
    return jsonify({**{k: task[k] for k in ("id", "state", "total", "done", "percent", "finished")},
                    "step": str(SYNC_STEP_WORDS.get(step, step))})


@bp.post("/settings/<int:credential_id>/employees")
def link_employee(credential_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    viewer.require_edit()
    if not settings_forms.CsrfForm().validate_on_submit():
        abort(400)
    try:
        employee_id = int(request.form.get("uis_employee_id", ""))
        raw_user = (request.form.get("b24_user_id") or "").strip()
        user_id = int(raw_user) if raw_user else None
    except ValueError:
        return redirect(url_for("settings.main", credential_id=credential.id, notice="link_invalid"))
    employees = {int(e["id"]) for e in reference_data.uis_employees(credential.id)}
    users = {int(u["ID"]) for u in reference_data.b24_users(credential.id)}
    if employee_id not in employees or (user_id is not None and user_id not in users):
        return redirect(url_for("settings.main", credential_id=credential.id, notice="link_invalid",
                                _anchor="employees"))
    reference_sync.set_employee_link(credential.id, employee_id, user_id)
    return redirect(url_for("settings.main", credential_id=credential.id, notice="link_saved", _anchor="employees"))


# --- Chats and offline requests ----------------------------------------------------------------------
@bp.route("/settings/<int:credential_id>/channels", methods=["GET"])
def channels(credential_id: int):
    current_viewer().credential(credential_id)
    return redirect(url_for("settings.section", credential_id=credential_id, section="chats"))


@bp.route("/settings/<int:credential_id>/channels/<section>", methods=["GET", "POST"])
def section(credential_id: int, section: str):
    if section not in SECTIONS:
        abort(404)
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    ref = reference_lists(credential.id)
    form = settings_forms.CsrfForm()
    errors: dict = {}
    preview = None
    status = 200
    if request.method == "POST":
        viewer.require_edit()
        if not form.validate_on_submit():
            abort(400, description=_("Форма устарела: откройте страницу заново."))
        draft = settings_forms.channel_draft_from_form(request.form, section)
        action = request.form.get("action") or "save"
        active, options, errors = settings_forms.channel_options(draft, section, ref)
        if action == "save":
            if not errors:
                settings_store.save_channel(credential.id, section, active, options)
                return redirect(url_for("settings.section", credential_id=credential.id, section=section,
                                        notice="saved"))
            status = 400
        elif action == "preview":
            preview = preview_rows(credential.id, section, options, ref)
        else:
            draft = settings_forms.edit_channel_draft(draft, action)
            errors = {}
    else:
        draft = settings_forms.channel_draft(settings_store.load_channel(credential.id, section).as_dict(), section)
    catalog = ef.catalog_for(section)
    return _page(viewer, credential, "settings/section.html", status=status,
                 active_tab="calls" if section == "calls" else "channels", section=section,
                 form=form, d=draft, errors=errors, ref=ref, preview=preview, catalog=catalog,
                 operator_labels=ef.OPERATOR_LABELS, lang=_lang(), placeholders=titles.placeholders_for(section),
                 mappable={e: field_mapping.mappable_fields(ref["b24_fields"], e) for e in field_mapping.ENTITIES},
                 field_label=field_mapping.field_label, enum_items=field_mapping.enum_items,
                 error_count=sum(len(v) for v in errors.values()))


def preview_rows(credential_id: int, section: str, options: dict, ref: dict) -> list[dict]:
    """What the (unsaved) options would do with the last events of this kind: the engine's own decision
    (bx_app.engine.preview), as if the integration and the channel were on and Bitrix24 knew nobody yet."""
    lang = _lang()
    entity_words = {"lead": _("Лид"), "deal": _("Сделка"), "contact": _("Контакт"), "activity": _("Дело")}
    rows = []
    for seen in engine_preview.preview(credential_id, section, options):
        decision = seen.decision
        if decision.passed:
            why = evaluate(options["filter"], facts_of(seen.facts), lang)[1] if options.get("filter") else ""
        elif decision.reason == "filtered_out" and decision.details.get("filter"):
            why = decision.details["filter"]
        else:
            why = str(journal_view.REASON_WORDS.get(decision.reason or "", decision.reason or ""))
        rows.append({
            "event": seen.event, "stage": journal_view.stage_words(seen.event.stage), "passed": decision.passed,
            "why": why, "notes": [], "responsible": decision.responsible_id,
            "responsible_reason": decision.responsible_reason,
            "entities": [entity_words[p] for p in decision.parts if p in entity_words],
            "title": decision.title,
            "mapped": field_mapping.apply_rows(options["field_map"], facts_of(seen.facts), ref.get("b24_fields") or {}),
        })
    return rows
