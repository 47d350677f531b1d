"""The UIS sandbox as a Flask app: Data API at /v2.0, a control JSON API and a small "UIS cabinet" page."""
from __future__ import annotations

from flask import Flask, jsonify, redirect, render_template_string, request, url_for

from bx_app.sandbox.uis import control, rpc
from bx_app.sandbox.uis.state import SANDBOX_TOKEN, UisState


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

    def run(action, *args):
        try:
            return jsonify(action(state, *args, body()))
        except control.ControlError as error:
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
                     view_func=lambda: run(control.create_call))
    app.add_url_rule("/control/config", "control_config", methods=["POST"],
                     view_func=lambda: run(control.configure))

    @app.post("/control/reset")
    def control_reset():
        state.reset()
        return jsonify({"ok": True, "token": SANDBOX_TOKEN, "account_id": state.account["app_id"]})

    @app.get("/control/state.json")
    def control_state():
        with state.lock:
            return jsonify(state.snapshot())

    # --- the human page -----------------------------------------------------------------------------
    def hook_from_form() -> dict:
        form = request.form
        hook = form.get("hook_url", "").strip()
        return {"notify_url": hook or None, "notify_method": form.get("notify_method") or "POST",
                "duplicate": form.get("duplicate") == "on"}

    def back(message: str = ""):
        return redirect(url_for("cabinet", hook=request.form.get("hook_url") or None, msg=message or None))

    @app.get("/")
    def cabinet():
        hook = request.args.get("hook") or state.last_hook_url or ""
        with state.lock:
            return render_template_string(
                PAGE, state=state, hook=hook, token=SANDBOX_TOKEN, msg=request.args.get("msg"),
                offline=sorted(state.offline_messages, key=lambda r: r["id"], reverse=True),
                chats=sorted(state.chats, key=lambda r: r["id"], reverse=True),
                deliveries=list(reversed(state.deliveries[-10:])), limits=state.limits())

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
        except control.ControlError as error:
            return back(str(error))
        return back(f"Заявка {result['row']['id']} создана" + _delivery_note(result))

    @app.post("/ui/offline_messages/<int:message_id>/process")
    def ui_process(message_id):
        try:
            control.process_offline_message(state, message_id, {"employee_id": request.form.get("employee_id")})
        except control.ControlError as error:
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
        except control.ControlError as error:
            return back(str(error))
        return back(f"Чат {result['row']['id']} начат")

    @app.post("/ui/chats/<int:chat_id>/reply")
    def ui_reply(chat_id):
        try:
            control.add_chat_message(state, chat_id, {"source": "operator", "text": request.form.get("text")
                                                      or "Здравствуйте! Чем помочь?"})
        except control.ControlError as error:
            return back(str(error))
        return back(f"Оператор ответил в чате {chat_id}")

    @app.post("/ui/chats/<int:chat_id>/finish")
    def ui_finish(chat_id):
        try:
            result = control.finish_chat(state, chat_id, {"status": request.form.get("status") or None,
                                                          **hook_from_form()})
        except control.ControlError as error:
            return back(str(error))
        return back(f"Чат {chat_id} завершён ({result['row']['status']})" + _delivery_note(result))

    return app


def _delivery_note(result: dict) -> str:
    deliveries = result.get("deliveries") or []
    if not deliveries:
        return ""
    notes = [f"HTTP {d['status']}" if d.get("status") else (d.get("error") or "queued") for d in deliveries]
    return "; уведомление: " + ", ".join(notes)


PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>UIS — песочница</title>
<style>
 body{font-family:system-ui,Arial,sans-serif;margin:0;background:#f4f6f9;color:#1d2733}
 header{background:#1e3a5f;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:baseline}
 header b{font-size:20px} header span{opacity:.8;font-size:13px}
 main{padding:16px 24px;display:grid;gap:16px}
 section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002}
 h2{font-size:16px;margin:4px 0 10px} table{border-collapse:collapse;width:100%;font-size:13px}
 th,td{border-bottom:1px solid #e3e7ee;padding:4px 6px;text-align:left;vertical-align:top}
 label{display:inline-block;margin:0 12px 6px 0;font-size:13px} input,select,textarea{font:inherit}
 input[type=text],input[type=email],input[type=url]{width:220px} .wide{width:520px!important}
 .msg{background:#e8f5e9;border:1px solid #a5d6a7;padding:8px 12px;border-radius:4px}
 code{background:#eef1f5;padding:1px 4px;border-radius:3px} button{cursor:pointer}
</style></head><body>
<header><b>UIS</b><span>Песочница кабинета · аккаунт {{ state.account.app_id }} «{{ state.account.name }}»
 · ключ Data API <code>{{ token }}</code> · лимит: {{ limits.minute_remaining }}/{{ limits.minute_limit }} в минуту,
 {{ limits.day_remaining }}/{{ limits.day_limit }} в сутки</span></header>
<main>
{% if msg %}<div class="msg">{{ msg }}</div>{% endif %}
<section><h2>Создать офлайн заявку</h2>
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
 <label>URL уведомления (хук приложения) <input class="wide" type="url" name="hook_url" value="{{ hook }}"
   placeholder="{{ (state.app_url or 'http://127.0.0.1:5000') ~ '/hooks/uis/<hook_token>' }}"></label>
 <label>Метод <select name="notify_method"><option>POST</option><option>GET</option></select></label>
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
<section><h2>Чаты</h2>
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
<section><h2>Последние уведомления</h2><table><tr><th>событие</th><th>метод</th><th>URL</th><th>результат</th></tr>
{% for d in deliveries %}<tr><td>{{ d.event }}</td><td>{{ d.method }}</td><td>{{ d.url }}</td>
<td>{% if d.status %}HTTP {{ d.status }}{% else %}{{ d.error or 'в очереди' }}{% endif %}</td></tr>{% endfor %}
</table>
<p>Data API: <code>POST {{ request.host_url }}v2.0</code>, ключ <code>{{ token }}</code>. Управление:
<code>/control/state.json</code>.</p></section>
</main></body></html>
"""
