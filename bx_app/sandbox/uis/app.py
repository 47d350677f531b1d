"""The UIS sandbox as a Flask app: Data API at /v2.0, a control JSON API and a small "UIS cabinet" page."""
from __future__ import annotations

from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request, url_for

from bx_app.sandbox.uis import calls, control, notify, rpc
from bx_app.sandbox.uis.state import DELIVERY_ORDERS, NOTIFIED_EVENTS, SANDBOX_TOKEN, UisState


def create_uis_app(app_url: str | None = None) -> Flask:
    """A fresh sandbox with seeded data; `app_url` (the app's public URL) only helps the page's hints."""
    app = Flask(__name__)
    state = UisState(app_url=app_url)
    app.extensions["uis_sandbox_state"] = state

    @app.post("/v2.0")
    def data_api():
        reply = rpc.handle(state, request.get_data(), request.remote_addr)
        return jsonify(reply)

    def body() -> dict:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    def run(action, *args, **kwargs):
        try:
            return jsonify(action(state, *args, body(), **kwargs))
        except control.REFUSALS as error:
            return jsonify({"error": str(error)}), 400

    app.add_url_rule("/control/offline_messages", "control_offline", methods=["POST"],
                     view_func=lambda: run(control.create_offline_message))
    app.add_url_rule("/control/offline_messages/<int:message_id>/process", "control_process", methods=["POST"],
                     view_func=lambda message_id: run(control.process_offline_message, message_id))
    app.add_url_rule("/control/chats", "control_chat", methods=["POST"],
                     view_func=lambda: run(control.create_chat))
    app.add_url_rule("/control/chats/<int:chat_id>/messages", "control_chat_message", methods=["POST"],
                     view_func=lambda chat_id: run(control.add_chat_message, chat_id))
    app.add_url_rule("/control/chats/<int:chat_id>/finish", "control_chat_finish", methods=["POST"],
                     view_func=lambda chat_id: run(control.finish_chat, chat_id))
    app.add_url_rule("/control/calls", "control_call", methods=["POST"],
                     view_func=lambda: run(control.create_call, public_url=request.host_url))
    app.add_url_rule("/control/calls/<int:call_id>/finish", "control_call_finish", methods=["POST"],
                     view_func=lambda call_id: run(control.finish_call, call_id))
    app.add_url_rule("/control/notifications", "control_notifications", methods=["POST"],
                     view_func=lambda: run(control.configure_notifications))
    app.add_url_rule("/control/config", "control_config", methods=["POST"],
                     view_func=lambda: run(control.configure))

    @app.get("/control/notifications")
    def control_notifications_get():
        """The settings, and per event the variables UIS offers and its default templates (what a user sees)."""
        with state.lock:
            settings = state.notification_settings()
        settings["variables"] = {event: notify.EVENT_VARIABLES[event] for event in NOTIFIED_EVENTS}
        settings["default_templates"] = {event: notify.seed.UIS_DEFAULT_TEMPLATES[event] for event in NOTIFIED_EVENTS}
        return jsonify(settings)

    @app.post("/control/reset")
    def control_reset():
        state.reset()
        return jsonify({"ok": True, "token": SANDBOX_TOKEN, "account_id": state.account["app_id"]})

    @app.get("/control/state.json")
    def control_state():
        with state.lock:
            return jsonify(state.snapshot())

    @app.get("/media/<int:communication_id>/<record>")
    def media(communication_id: int, record: str):
        """A call record, as media.uiscom.ru serves it (§8): a small silent MP3 for every known record."""
        with state.lock:
            known = calls.record_exists(state, communication_id, record)
        if not known:
            abort(404)
        return Response(calls.record_body(), mimetype="audio/mpeg",
                        headers={"Content-Disposition": f'inline; filename="{record.split(".")[0]}.mp3"'})

    # --- the human page -----------------------------------------------------------------------------
    def hook_from_form() -> dict:
        form = request.form
        options = {"notify_url": form.get("hook_url", "").strip() or None,
                   "duplicate": form.get("duplicate") == "on"}
        if form.get("notify_method"):
            options["notify_method"] = form["notify_method"]
        if form.get("order"):
            options["order"] = form["order"]
        return options

    def back(message: str = "", anchor: str | None = None):
        target = url_for("cabinet", hook=request.form.get("hook_url") or None, msg=message or None)
        return redirect(target + (f"#{anchor}" if anchor else ""))

    @app.get("/")
    def cabinet():
        with state.lock:
            given = (request.args.get("hook") or "").strip()
            if given.startswith(("http://", "https://")):
                state.last_hook_url = given  # a link that names the hook (e.g. from the app) pre-fills it from now on
            hook = state.prefilled_hook()
            return render_template_string(
                PAGE, state=state, hook=hook, token=SANDBOX_TOKEN, msg=request.args.get("msg"),
                offline=sorted(state.offline_messages, key=lambda r: r["id"], reverse=True),
                chats=sorted(state.chats, key=lambda r: r["id"], reverse=True),
                calls=sorted(state.calls, key=lambda r: r["id"], reverse=True)[:20],
                deliveries=list(reversed(state.deliveries[-12:])), limits=state.limits(),
                events=NOTIFIED_EVENTS, names=notify.seed.NOTIFICATION_EVENTS, orders=DELIVERY_ORDERS,
                defaults=notify.seed.UIS_DEFAULT_TEMPLATES, variables=notify.EVENT_VARIABLES,
                settings=state.notifications, delivery=state.delivery)

    @app.post("/ui/notifications")
    def ui_notifications():
        form = request.form
        events = {}
        for event in NOTIFIED_EVENTS:
            method = form.get(f"method_{event}") or "POST"
            change = {"name": form.get(f"name_{event}"), "method": method, "active": form.get(f"active_{event}") == "on"}
            if form.get(f"choice_{event}") == "custom":
                change["templates"] = {method: form.get(f"template_{event}") or ""}
            else:
                change["templates"] = {method: "default"}
            events[event] = change
        try:
            control.configure_notifications(state, {
                "hook_url": form.get("hook_url", ""), "duplicate": form.get("duplicate") == "on",
                "order": form.get("order") or "in_order", "events": events})
        except control.REFUSALS as error:
            return back(f"Настройки не сохранены: {error}", "notifications")
        return back("Настройки уведомлений сохранены", "notifications")

    @app.post("/ui/offline_messages")
    def ui_offline():
        form = request.form
        try:
            result = control.create_offline_message(state, {
                "visitor_name": form.get("visitor_name"), "visitor_phone_number": form.get("visitor_phone_number"),
                "visitor_email": form.get("visitor_email"), "text": form.get("text"), "site_id": form.get("site_id"),
                "form_name": form.get("form_name"), "utm_source": form.get("utm_source"),
                "utm_medium": form.get("utm_medium"), "utm_campaign": form.get("utm_campaign"),
                **hook_from_form()})
        except control.REFUSALS as error:
            return back(str(error))
        return back(f"Заявка {result['row']['id']} создана" + _delivery_note(result))

    @app.post("/ui/offline_messages/<int:message_id>/process")
    def ui_process(message_id):
        try:
            control.process_offline_message(state, message_id, {"employee_id": request.form.get("employee_id")})
        except control.REFUSALS as error:
            return back(str(error))
        return back(f"Заявка {message_id} обработана")

    @app.post("/ui/chats")
    def ui_chat():
        form = request.form
        try:
            result = control.create_chat(state, {
                "visitor_name": form.get("visitor_name"), "visitor_phone_number": form.get("visitor_phone_number"),
                "channel_id": form.get("channel_id") or 3101, "text": form.get("text"),
                "status": form.get("status") or "new"})
        except control.REFUSALS as error:
            return back(str(error))
        return back(f"Чат {result['row']['id']} начат")

    @app.post("/ui/chats/<int:chat_id>/reply")
    def ui_reply(chat_id):
        try:
            control.add_chat_message(state, chat_id, {"source": "operator", "text": request.form.get("text")
                                                      or "Здравствуйте! Чем помочь?"})
        except control.REFUSALS as error:
            return back(str(error))
        return back(f"Оператор ответил в чате {chat_id}")

    @app.post("/ui/chats/<int:chat_id>/finish")
    def ui_finish(chat_id):
        try:
            result = control.finish_chat(state, chat_id, {"status": request.form.get("status") or None,
                                                          **hook_from_form()})
        except control.REFUSALS as error:
            return back(str(error))
        return back(f"Чат {chat_id} завершён ({result['row']['status']})" + _delivery_note(result))

    @app.post("/ui/calls")
    def ui_call():
        form = request.form
        try:
            result = control.create_call(state, {
                "direction": form.get("direction") or "in", "answered": form.get("answered") != "no",
                "with_record": form.get("with_record") == "on",
                "contact_phone_number": form.get("contact_phone_number"),
                "virtual_phone_number": form.get("virtual_phone_number"), "employee_id": form.get("employee_id"),
                "talk_duration": form.get("talk_duration"), "wait_duration": form.get("wait_duration"),
                **hook_from_form()}, public_url=request.host_url)
        except control.REFUSALS as error:
            return back(f"Звонок не совершён: {error}", "call")
        row = result["row"]
        outcome = "разговор" if not row["is_lost"] else "пропущен"
        return back(f"Звонок {row['id']} ({outcome})" + _delivery_note(result), "call")

    return app


def _delivery_note(result: dict) -> str:
    deliveries = result.get("deliveries") or []
    if not deliveries:
        return ""
    notes = [f"{d['event']} HTTP {d['status']}" if d.get("status") else
             f"{d['event']} {d.get('error') or 'в очереди'}" for d in deliveries]
    return "; уведомления: " + ", ".join(notes)


PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>UIS — песочница</title>
<style>
 body{font-family:system-ui,Arial,sans-serif;margin:0;background:#f4f6f9;color:#1d2733}
 header{background:#1e3a5f;color:#fff;padding:12px 24px;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline}
 header b{font-size:20px;color:#fff} header span{color:#e8eef6;font-size:14px}
 header code{background:#0d2238;color:#fff;border:1px solid #5b7ea6}
 main{padding:16px 24px;display:grid;gap:16px}
 section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002}
 h2{font-size:16px;margin:4px 0 10px} table{border-collapse:collapse;width:100%;font-size:13px}
 th,td{border-bottom:1px solid #e3e7ee;padding:4px 6px;text-align:left;vertical-align:top}
 label{display:inline-block;margin:0 12px 6px 0;font-size:13px} input,select,textarea{font:inherit}
 input[type=text],input[type=email],input[type=url],input[type=number]{width:200px} .wide{width:520px!important}
 input[type=number]{width:80px} textarea.tpl{width:100%;font:12px monospace;white-space:pre-wrap}
 .msg{background:#e8f5e9;border:1px solid #a5d6a7;padding:8px 12px;border-radius:4px}
 code{background:#eef1f5;color:#1d2733;padding:1px 4px;border-radius:3px} button{cursor:pointer}
 details pre{white-space:pre-wrap;font-size:12px;background:#f6f8fb;padding:6px} .hint{color:#4a5868;font-size:12px}
</style></head><body>
<header><b>UIS</b><span>Песочница кабинета · аккаунт {{ state.account.app_id }} «{{ state.account.name }}»
 ({{ state.account.timezone }}) · ключ Data API <code>{{ token }}</code> · лимит: {{ limits.minute_remaining }}/{{ limits.minute_limit }} в минуту,
 {{ limits.day_remaining }}/{{ limits.day_limit }} в сутки</span></header>
<main>
<nav class="hint"><a href="#call">Позвонить</a> · <a href="#offline">Офлайн заявки</a> · <a href="#chats">Чаты</a> ·
 <a href="#notifications">Уведомления (URL и шаблоны)</a>{% if hook %} · хук: <code>{{ hook }}</code>{% endif %}</nav>
{% if msg %}<div class="msg" id="msg">{{ msg }}</div>{% endif %}
<section id="call"><h2>Позвонить</h2>
<form method="post" action="/ui/calls">
 <label>Направление <select name="direction"><option value="in">входящий</option><option value="out">исходящий</option></select></label>
 <label>Итог <select name="answered"><option value="yes">с ответом</option><option value="no">пропущенный</option></select></label>
 <label><input type="checkbox" name="with_record" checked> с записью разговора</label><br>
 <label>Номер клиента <input type="text" name="contact_phone_number" value="79161112233"></label>
 <label>Виртуальный номер <select name="virtual_phone_number">{% for n in state.virtual_numbers %}<option value="{{ n.virtual_phone_number }}">{{ n.virtual_phone_number }} {{ n.name or '' }}</option>{% endfor %}</select></label>
 <label>Сотрудник <select name="employee_id"><option value="">по сценарию</option>{% for e in state.employees %}<option value="{{ e.id }}">{{ e.full_name }}</option>{% endfor %}</select></label><br>
 <label>Ожидание, с <input type="number" name="wait_duration" value="12" min="0"></label>
 <label>Разговор, с <input type="number" name="talk_duration" value="95" min="0"></label><br>
 <label>URL уведомления (хук приложения) <input class="wide" type="url" name="hook_url" value="{{ hook }}"></label>
 <label><input type="checkbox" name="duplicate"> дважды</label>
 <label>Порядок <select name="order"><option value="">как в настройках</option>{% for o in orders %}<option value="{{ o }}">{{ o }}</option>{% endfor %}</select></label><br>
 <button type="submit" id="place-call">Позвонить</button>
</form>
<table><tr><th>id</th><th>начало</th><th>направление</th><th>клиент</th><th>номер</th><th>итог</th><th>разговор, с</th><th>сотрудник</th><th>запись</th></tr>
{% for c in calls %}<tr><td>{{ c.id }}</td><td>{{ c.start_time }}</td><td>{{ 'входящий' if c.direction == 'in' else 'исходящий' }}</td>
<td>{{ c.contact_phone_number }}</td><td>{{ c.virtual_phone_number }}</td>
<td>{% if c.finish_time is none %}идёт{% elif c.is_lost %}пропущен{% else %}с ответом{% endif %}</td>
<td>{{ c.talk_duration if c.talk_duration is not none else '' }}</td><td>{{ c.last_talked_employee_full_name or c.last_answered_employee_full_name or '' }}</td>
<td>{% if c.full_record_file_link %}<a href="{{ c.full_record_file_link }}">запись</a>{% endif %}</td></tr>{% endfor %}
</table></section>
<section id="offline"><h2>Создать офлайн заявку</h2>
<form method="post" action="/ui/offline_messages">
 <label>Имя <input type="text" name="visitor_name" value="Сергей"></label>
 <label>Телефон <input type="text" name="visitor_phone_number" value="79167778899"></label>
 <label>E-mail <input type="email" name="visitor_email" value="sergey@example.com"></label>
 <label>Сайт <select name="site_id">{% for s in state.sites %}<option value="{{ s.id }}">{{ s.domain_name }}</option>{% endfor %}</select></label>
 <label>Форма <input type="text" name="form_name" placeholder="(стандартная)"></label><br>
 <label>Текст <textarea name="text" rows="2" cols="70">Хочу заказать диван, перезвоните.</textarea></label><br>
 <label>utm_source <input type="text" name="utm_source" value="yandex"></label>
 <label>utm_medium <input type="text" name="utm_medium" value="cpc"></label>
 <label>utm_campaign <input type="text" name="utm_campaign" value="sandbox"></label><br>
 <label>URL уведомления (хук приложения) <input class="wide" type="url" name="hook_url" id="hook-url" value="{{ hook }}"
   placeholder="{{ (state.app_url or 'http://127.0.0.1:5000') ~ '/hooks/uis/<hook_token>' }}"></label>
 <label>Метод <select name="notify_method"><option value="">как в настройках</option><option>POST</option><option>GET</option></select></label>
 <label><input type="checkbox" name="duplicate"> отправить дважды</label><br>
 <button type="submit">Создать заявку</button>
</form></section>
<section><h2>Офлайн заявки</h2><table>
<tr><th>id</th><th>время</th><th>посетитель</th><th>текст</th><th>сайт</th><th>статус</th><th>сотрудник</th><th></th></tr>
{% for r in offline %}<tr><td>{{ r.id }}</td><td>{{ r.date_time }}</td>
<td>{{ r.visitor_name or '' }}<br>{{ r.visitor_phone_number or '' }} {{ r.visitor_email or '' }}</td>
<td>{{ r.text }}</td><td>{{ r.site_domain_name or '' }}</td><td>{{ r.status }}{% if r.process_time %}<br>{{ r.process_time }}{% endif %}</td>
<td>{{ r.employee_full_name or '' }}</td>
<td>{% if r.status != 'processed' %}<form method="post" action="/ui/offline_messages/{{ r.id }}/process">
<input type="hidden" name="hook_url" value="{{ hook }}"><select name="employee_id">{% for e in state.employees %}<option value="{{ e.id }}">{{ e.full_name }}</option>{% endfor %}</select>
<button>Обработать</button></form>{% endif %}</td></tr>{% endfor %}
</table></section>
<section id="chats"><h2>Чаты</h2>
<form method="post" action="/ui/chats">
 <input type="hidden" name="hook_url" value="{{ hook }}">
 <label>Имя <input type="text" name="visitor_name" value="Анна"></label>
 <label>Телефон <input type="text" name="visitor_phone_number" value="79161112233"></label>
 <label>Канал <select name="channel_id">{% for c in state.channels %}<option value="{{ c.id }}">{{ c.name }}</option>{% endfor %}</select></label>
 <label>Сообщение <input class="wide" type="text" name="text" value="Здравствуйте! Есть ли диван в наличии?"></label>
 <button type="submit">Начать чат</button>
</form>
<table><tr><th>id</th><th>начало</th><th>канал</th><th>посетитель</th><th>сообщений</th><th>статус</th><th>сотрудник</th><th></th></tr>
{% for c in chats %}<tr><td>{{ c.id }}</td><td>{{ c.date_time }}</td><td>{{ c.chat_channel_name }}</td>
<td>{{ (state.visitors.get(c.visitor_id) or {}).get('name') or '' }} {{ c.visitor_phone_number or '' }}</td>
<td>{{ c.messages_count }}</td><td>{{ c.status }}</td><td>{{ c.employee_full_name or '' }}</td>
<td>{% if c.status in ('new', 'active') %}
<form method="post" action="/ui/chats/{{ c.id }}/reply" style="display:inline"><input type="hidden" name="hook_url" value="{{ hook }}"><button>Ответить</button></form>
<form method="post" action="/ui/chats/{{ c.id }}/finish" style="display:inline"><input type="hidden" name="hook_url" value="{{ hook }}">
<select name="status"><option value="">авто</option><option value="succeed">succeed</option><option value="lost">lost</option></select>
<button>Завершить</button></form>{% endif %}</td></tr>{% endfor %}
</table></section>
<section id="notifications"><h2>Уведомления</h2>
<form method="post" action="/ui/notifications">
 <label>URL уведомлений (хук приложения) <input class="wide" type="url" name="hook_url" id="settings-hook-url"
   value="{{ state.hook_url or '' }}" placeholder="{{ (state.app_url or 'http://127.0.0.1:5000') ~ '/hooks/uis/<hook_token>' }}"></label>
 <label><input type="checkbox" name="duplicate" {% if delivery.duplicate %}checked{% endif %}> отправлять каждое дважды</label>
 <label>Порядок <select name="order">{% for o in orders %}<option value="{{ o }}" {% if delivery.order == o %}selected{% endif %}>{{ {'in_order': 'по порядку', 'reversed': 'обратный', 'shuffled': 'перемешать'}[o] }}</option>{% endfor %}</select></label>
 <p class="hint">Каждое событие отправляется на этот URL в выбранном шаблоне: по умолчанию — шаблон, который предлагает UIS;
 «Свой шаблон» — текст, который вы вставили (например, из страницы подключения приложения).</p>
 <table><tr><th>событие</th><th>название</th><th>метод</th><th>активно</th><th>шаблон</th></tr>
 {% for e in events %}{% set s = settings[e] %}{% set pasted = (s.template or {}).get(s.method) %}<tr>
 <td>{{ names[e] }}<br><code>{{ e }}</code></td>
 <td><input type="text" name="name_{{ e }}" value="{{ s.name }}"></td>
 <td><select name="method_{{ e }}"><option {% if s.method == 'POST' %}selected{% endif %}>POST</option><option {% if s.method == 'GET' %}selected{% endif %}>GET</option></select></td>
 <td><input type="checkbox" name="active_{{ e }}" {% if s.active %}checked{% endif %}></td>
 <td><label><input type="radio" name="choice_{{ e }}" value="default" {% if not pasted %}checked{% endif %}> шаблон UIS по умолчанию</label>
 <label><input type="radio" name="choice_{{ e }}" value="custom" {% if pasted %}checked{% endif %}> свой шаблон</label>
 <textarea class="tpl" name="template_{{ e }}" rows="3" placeholder="вставьте текст шаблона">{{ pasted or '' }}</textarea>
 <details><summary class="hint">шаблон UIS и переменные</summary><pre>{{ defaults[e][s.method] }}</pre>
 <span class="hint">{% for v in variables[e] %}{{ '{{' }}{{ v }}{{ '}}' }} {% endfor %}</span></details></td></tr>{% endfor %}
 </table>
 <button type="submit" id="save-notifications">Сохранить уведомления</button>
</form></section>
<section><h2>Последние уведомления</h2><table><tr><th>событие</th><th>метод</th><th>URL</th><th>результат</th></tr>
{% for d in deliveries %}<tr><td>{{ d.event }}</td><td>{{ d.method }}</td><td>{{ d.url }}</td>
<td>{% if d.status %}HTTP {{ d.status }}{% else %}{{ d.error or 'в очереди' }}{% endif %}</td></tr>{% endfor %}
</table>
<p>Data API: <code>POST {{ request.host_url }}v2.0</code>, ключ <code>{{ token }}</code>. Управление:
<code>/control/state.json</code>, <code>/control/notifications</code>.</p></section>
</main></body></html>
"""
