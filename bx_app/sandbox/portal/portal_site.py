"""One portal's web server: the portal pages, the app slot, OAuth consent, /rest, BX24.js, state and control."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from . import lifecycle, rest, staff
from .crm import as_int
from .rest_error import RestError
from .state import PortalState, SandboxState

HERE = Path(__file__).resolve().parent
LABELS = {
    "ru": {"crm": "CRM", "leads": "Лиды", "deals": "Сделки", "contacts": "Контакты", "apps": "Приложения",
           "install": "Установить приложение", "uninstall": "Удалить приложение", "installed": "Установлено",
           "not_installed": "Не установлено", "open": "Открыть", "notifications": "Уведомления",
           "activities": "Дела", "comments": "Комментарии в таймлайне", "user": "Пользователь",
           "not_fully_installed": "Приложение установлено не полностью. Обратитесь к администратору портала.",
           "allow": "Разрешить", "deny": "Отклонить", "pick_user": "Выберите сотрудника", "cancel": "Отмена",
           "clean": "Удалить данные приложения", "tasks": "Задачи и проекты", "feed": "Новости",
           "app_name": "UIS 2.0", "telephony": "Телефония", "calls": "Звонки", "lines": "Внешние линии",
           "call_in": "Входящий звонок", "call_out": "Исходящий звонок", "incoming": "входящий",
           "outgoing": "исходящий", "answered": "отвечен", "missed": "пропущен", "in_progress": "идёт разговор",
           "started": "Начало", "direction": "Направление", "phone": "Телефон", "line": "Линия",
           "status": "Статус", "record": "Запись", "seconds": "с", "bytes": "байт", "all_calls": "Все звонки",
           "created_by_call": "создан звонком", "call_card": "Карточка звонка", "timeline": "История",
           "lead": "Лид", "deal": "Сделка", "contact": "Контакт", "not_found": "Не найдено",
           "kind_call": "Звонок", "kind_activity": "Дело", "kind_comment": "Комментарий"},
    "en": {"crm": "CRM", "leads": "Leads", "deals": "Deals", "contacts": "Contacts", "apps": "Applications",
           "install": "Install the app", "uninstall": "Uninstall", "installed": "Installed",
           "not_installed": "Not installed", "open": "Open", "notifications": "Notifications",
           "activities": "Activities", "comments": "Timeline comments", "user": "User",
           "not_fully_installed": "The application is not fully installed. Contact your administrator.",
           "allow": "Allow", "deny": "Deny", "pick_user": "Select an employee", "cancel": "Cancel",
           "clean": "Delete application data", "tasks": "Tasks and projects", "feed": "Feed",
           "app_name": "UIS 2.0", "telephony": "Telephony", "calls": "Calls", "lines": "External lines",
           "call_in": "Incoming call", "call_out": "Outgoing call", "incoming": "incoming", "outgoing": "outgoing",
           "answered": "answered", "missed": "missed", "in_progress": "in progress", "started": "Started",
           "direction": "Direction", "phone": "Phone", "line": "Line", "status": "Status", "record": "Record",
           "seconds": "s", "bytes": "bytes", "all_calls": "All calls", "created_by_call": "created by the call",
           "call_card": "Call card", "timeline": "Timeline", "lead": "Lead", "deal": "Deal", "contact": "Contact",
           "not_found": "Not found", "kind_call": "Call", "kind_activity": "Activity", "kind_comment": "Comment"},
}
ENTITY_OWNER_TYPE = {"lead": 1, "deal": 2, "contact": 3}


# The card shows a COMMENTS field and an HTML description (DESCRIPTION_TYPE 3) formatted, as the portal's
# editor does; only bare formatting tags come back from the escaped text, never attributes or scripts.
_FORMATTING = re.compile(r"&lt;(/?(?:b|i|u|s|p|br)\s*/?)&gt;", re.IGNORECASE)


def formatted_html(value) -> Markup:
    return Markup(_FORMATTING.sub(r"<\1>", str(escape(value))))


def create_portal_app(state: SandboxState, port: int) -> Flask:
    portal = state.portals[port]
    app = Flask(f"bx24_sandbox_portal_{port}", template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"), static_url_path="/sandbox-static")
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.add_template_filter(formatted_html, "formatted_html")

    def viewer() -> tuple[int, str]:
        user_id = as_int(request.values.get("user")) or 1
        if user_id not in portal.users or not portal.users[user_id]["ACTIVE"]:
            user_id = 1
        lang = request.values.get("lang", "ru")
        return user_id, lang if lang in LABELS else "ru"

    def page(template: str, **context):
        user_id, lang = viewer()
        # a page opened by BX24.openPath stays in its slider as the user follows links there
        in_slider = {k: request.args[k] for k in ("IFRAME", "IFRAME_TYPE")
                     if k in request.args and request.args.get("IFRAME") == "Y"}
        with state.lock:
            users = [u for u in portal.users.values() if u["ACTIVE"]]
            return render_template(
                template, portal=portal, state=state, user_id=user_id, lang=lang, t=LABELS[lang],
                user=portal.users[user_id], users=users, full_name=staff.full_name,
                is_admin=portal.is_admin(user_id), qs=lambda **kw: "?" + urlencode(
                    {"user": user_id, "lang": lang, **in_slider, **kw}), **context)

    # --- pages -----------------------------------------------------------------------------------
    @app.get("/")
    def home():
        user_id, lang = viewer()
        view = request.args.get("view", "home")
        launch_data = None
        notice = None
        with state.lock:
            if view in ("app", "install"):
                if portal.installed and view == "app":
                    launch_data = lifecycle.launch(state, portal, user_id, lang, installer=False)
                elif portal.is_admin(user_id):
                    launch_data = lifecycle.launch(state, portal, user_id, lang, installer=True)
                    view = "install"
                else:
                    notice = LABELS[lang]["not_fully_installed"]
        return page("portal.html", view=view, launch=launch_data, notice=notice)

    @app.get("/crm/")
    def crm_page():
        with state.lock:
            snapshot = portal.crm.as_json()
        return page("crm.html", view="crm", tab=request.args.get("tab", "leads"), crm=snapshot)

    @app.get("/crm/<any(lead, deal, contact):entity>/details/<int:entity_id>/")
    def entity_page(entity: str, entity_id: int):
        """An entity's card: its fields and its timeline (activities, calls with their records, comments)."""
        _user_id, lang = viewer()
        with state.lock:
            record = portal.crm.table(entity).get(entity_id)
            if record is None:
                return page("entity.html", view="crm", title=LABELS[lang]["not_found"], record={},
                            timeline=[]), 404
            record = dict(record)
            timeline = entity_timeline(portal, entity, entity_id)
        title = f"{LABELS[lang][entity]} #{entity_id}: {record.get('TITLE') or staff.full_name(record)}"
        return page("entity.html", view="crm", title=title, record=record, timeline=timeline)

    @app.get("/telephony/")
    @app.get("/telephony/call/<call_id>/")
    def telephony_page(call_id: str | None = None):
        with state.lock:
            calls = [dict(c) for c in portal.telephony.calls.values()]
            call = dict(portal.telephony.calls[call_id]) if call_id in portal.telephony.calls else None
        if call_id is not None and call is None:
            return page("telephony.html", view="telephony", calls=calls, call=None), 404
        return page("telephony.html", view="telephony", calls=calls, call=call)

    @app.get("/sandbox/portal/launch.json")
    def launch_json():
        """The same launch the page would do, as JSON (for tests and headless clients)."""
        user_id, lang = viewer()
        installer = request.args.get("view") == "install" or not portal.installed
        with state.lock:
            if installer and not portal.is_admin(user_id):
                return jsonify({"error": "not_fully_installed"}), 403
            return jsonify(lifecycle.launch(state, portal, user_id, lang, installer=installer))

    @app.post("/sandbox/portal/install-finish")
    def install_finish():
        data = request.get_json(silent=True) or request.form
        with state.lock:
            done = lifecycle.finish_install(state, portal, str(data.get("app_sid", "")))
        return jsonify({"ok": done}), 200 if done else 400

    @app.post("/sandbox/portal/refresh-auth")
    def refresh_auth():
        """BX24.refreshAuth(): the portal hands the frame a fresh token of the same user."""
        data = request.get_json(silent=True) or request.form
        with state.lock:
            pending = portal.pending_installs.get(str(data.get("app_sid", "")))
            if pending is None:
                return jsonify({"error": "unknown APP_SID"}), 400
            grant = state.issue_grant(portal, pending["user_id"])
            return jsonify({"AUTH_ID": grant.access_token, "REFRESH_ID": grant.refresh_token,
                            "AUTH_EXPIRES": grant.lifetime, "MEMBER_ID": portal.member_id, "DOMAIN": portal.domain})

    @app.post("/sandbox/portal/install")
    def install_button():
        user_id, lang = viewer()
        return redirect("/?" + urlencode({"user": user_id, "lang": lang, "view": "install"}))

    @app.post("/sandbox/portal/uninstall")
    def uninstall_button():
        user_id, lang = viewer()
        with state.lock:
            if portal.is_admin(user_id):
                lifecycle.uninstall(state, portal, clean=request.form.get("clean") in ("1", "Y", "on"))
        return redirect("/?" + urlencode({"user": user_id, "lang": lang, "view": "apps"}))

    # --- OAuth consent (the portal's /oauth/authorize/) -----------------------------------------
    @app.route("/oauth/authorize/", methods=["GET", "POST"])
    @app.route("/oauth/authorize", methods=["GET", "POST"])
    def authorize():
        client_id = request.values.get("client_id", "")
        oauth_state = request.values.get("state", "")
        if client_id != state.client_id:
            return page("authorize.html", error="Unknown client_id", client_id=client_id, oauth_state=oauth_state), 400
        if request.method == "GET":
            return page("authorize.html", error=None, client_id=client_id, oauth_state=oauth_state)
        user_id, _lang = viewer()
        callback = state.app_url + lifecycle.OAUTH_CALLBACK_PATH
        if request.form.get("decision") != "allow":
            return redirect(callback + "?" + urlencode({"error": "access_denied", "state": oauth_state}))
        with state.lock:
            if not portal.installed:
                # The sandbox's I1 flow: consenting on a portal without the app installs it (no iframe,
                # no ONAPPINSTALL); a real portal would insist on a marketplace install first.
                lifecycle.install_quietly(portal, portal.language)
            code = state.tokens.issue_code(port=portal.port, user_id=user_id, now=state.now())
            query = urlencode({"code": code.code, "state": oauth_state, "domain": portal.domain,
                               "member_id": portal.member_id, "scope": portal.scope,
                               "server_domain": state.server_of(portal).domain})
        return redirect(f"{callback}?{query}")

    # --- REST --------------------------------------------------------------------------------------
    @app.post("/rest/upload.json")
    def telephony_upload():
        """The uploadUrl telephony.externalCall.attachRecord hands out in its FILENAME-only mode."""
        token, upload = request.args.get("token", ""), request.files.get("file")
        with state.lock:
            grant = state.tokens.by_access.get(request.args.get("auth", ""))
            if grant is None or grant.port != portal.port:
                return jsonify(RestError.from_catalog("invalid_token").body()), 401
            stored = None
            if upload is not None and token.startswith("telephony|"):
                stored = portal.telephony.upload(token.partition("|")[2], upload.filename or "",
                                                 len(upload.read()), portal.crm)
        if stored is None:
            return jsonify({"error": "ERROR_CORE", "error_description": "Upload token is not found"}), 400
        return jsonify({"result": stored})

    @app.route("/rest/<path:method_path>", methods=["GET", "POST", "OPTIONS"])
    def rest_endpoint(method_path: str):
        if request.method == "OPTIONS":
            return _cors(Response(status=204))
        name = rest.method_name(method_path)
        try:
            params = rest.request_params(request.method, request.query_string.decode("utf-8", "replace"),
                                         request.content_type or "", request.get_data(cache=True),
                                         list(request.form.items(multi=True)) if request.form else [])
        except RestError as error:
            return _cors(jsonify(error.body())), error.status
        bearer = request.headers.get("Authorization", "")
        if "auth" not in params and bearer.lower().startswith("bearer "):
            params["auth"] = bearer[7:].strip()
        answer = rest.serve(state, portal, name, params)
        response = jsonify(answer.body) if answer.is_json else Response(answer.body, mimetype="text/html")
        response.status_code = answer.status
        return _cors(response)

    # --- BX24.js ----------------------------------------------------------------------------------
    @app.get("/bx24.js")
    @app.get("/api/v1/")
    def bx24_js():
        response = Response((HERE / "static" / "bx24.js").read_text(encoding="utf-8"),
                            mimetype="application/javascript")
        response.headers["Cache-Control"] = "no-cache"
        return _cors(response)

    # --- state and control ----------------------------------------------------------------------
    @app.get("/sandbox/state.json")
    def state_json():
        with state.lock:
            return jsonify(portal.as_json(state.now()))

    @app.post("/sandbox/control")
    def control():
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return jsonify({"error": "send a JSON object"}), 400
        try:
            with state.lock:
                return jsonify(apply_control(state, portal, data))
        except (ValueError, KeyError, TypeError) as exc:
            return jsonify({"error": str(exc)}), 400

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)

    app.add_url_rule("/index", "index_alias", lambda: redirect(url_for("home")))
    return app


def entity_timeline(portal: PortalState, entity: str, entity_id: int) -> list[dict]:
    """Newest first, as the portal's card shows it. Caller holds the lock."""
    owner_type = ENTITY_OWNER_TYPE[entity]
    calls = {f"VI_{c['CALL_ID']}": c for c in portal.telephony.calls.values()}
    items = []
    for activity in portal.crm.activities.values():
        if (activity.get("OWNER_TYPE_ID"), activity.get("OWNER_ID")) != (str(owner_type), str(entity_id)):
            continue
        call = calls.get(activity.get("ORIGIN_ID") or "")
        items.append({"kind": "call" if activity.get("TYPE_ID") == "2" else "activity", "id": int(activity["ID"]),
                      "html": str(activity.get("DESCRIPTION_TYPE")) == "3",
                      "when": activity.get("START_TIME") or activity.get("CREATED"), "subject": activity.get("SUBJECT"),
                      "text": activity.get("DESCRIPTION"), "record_url": activity.get("RECORD_URL"),
                      "call_id": call["CALL_ID"] if call else None})
    for comment in portal.crm.comments.values():
        if (comment["ENTITY_TYPE"], comment["ENTITY_ID"]) == (entity, str(entity_id)):
            items.append({"kind": "comment", "id": int(comment["ID"]), "when": comment["CREATED"],
                          "subject": comment["COMMENT"], "text": "", "record_url": None, "call_id": None})
    return sorted(items, key=lambda i: (str(i["when"]), i["id"]), reverse=True)


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def apply_control(state: SandboxState, portal: PortalState, data: dict) -> dict:
    """POST /sandbox/control: change the portal's behaviour. Caller holds the lock."""
    answer: dict = {"ok": True}
    if data.get("reset"):
        state.tokens.forget_portal(portal.port)
        portal.reset()
    if data.get("reset_counters"):
        portal.counters = type(portal.counters)()
    if "bucket" in data:
        bucket = data["bucket"]
        if "rate" in bucket:
            portal.bucket.rate = float(bucket["rate"])
        if "capacity" in bucket:
            portal.bucket.capacity = float(bucket["capacity"])
        if "enabled" in bucket:
            portal.bucket.enabled = bool(bucket["enabled"])
        if "level" in bucket:
            portal.bucket.level = float(bucket["level"])
    if "crm_mode" in data:
        mode = int(data["crm_mode"])
        if mode not in (1, 2):
            raise ValueError("crm_mode is 1 (classic) or 2 (simple)")
        portal.crm.mode = mode
    if data.get("clear_faults"):
        portal.faults.clear()
    if "fault_seed" in data:
        portal.faults.random.seed(data["fault_seed"])
    if "faults" in data:
        specs = data["faults"] if isinstance(data["faults"], list) else [data["faults"]]
        for spec in specs:
            portal.faults.add(spec)
    if "token_lifetime" in data:
        portal.token_lifetime = int(data["token_lifetime"])
    if data.get("expire_tokens"):
        answer["expired"] = state.tokens.expire_portal(portal.port, state.now())
    if "required_fields" in data:
        required = data["required_fields"]
        if isinstance(required, list):
            required = {"lead": required}
        for entity, codes in required.items():
            if entity not in ("lead", "deal"):
                raise ValueError("required_fields: entity is lead or deal")
            portal.crm.required_custom[entity] = {str(c).upper() for c in codes}
    if "scope" in data:
        portal.scope = ",".join(data["scope"]) if isinstance(data["scope"], list) else str(data["scope"])
    if "language" in data:
        portal.language = str(data["language"])
    if "extra_users" in data:
        first = max(portal.users) + 1
        for uid in range(first, first + int(data["extra_users"])):
            portal.users[uid] = staff.filler_user(uid)
    if "install" in data and data["install"]:
        options = data["install"] if isinstance(data["install"], dict) else {}
        lifecycle.install_quietly(portal, options.get("lang", portal.language))
        if options.get("deliver_event"):
            lifecycle.send_install_event(state, portal, int(options.get("user_id", 1)))
    if "uninstall" in data and data["uninstall"]:
        options = data["uninstall"] if isinstance(data["uninstall"], dict) else {}
        lifecycle.uninstall(state, portal, clean=bool(options.get("clean")))
    if "issue_tokens" in data and data["issue_tokens"]:
        options = data["issue_tokens"] if isinstance(data["issue_tokens"], dict) else {}
        user_id = int(options.get("user_id", 1))
        if user_id not in portal.users:
            raise ValueError(f"no user {user_id}")
        answer["tokens"] = state.token_response(state.issue_grant(portal, user_id))
    now = state.now()
    answer["portal"] = {k: v for k, v in portal.as_json(now).items()
                        if k in ("domain", "member_id", "installed", "application_token", "scope", "token_lifetime",
                                 "bucket", "counters", "faults", "crm_mode", "required_fields", "language")}
    return answer
