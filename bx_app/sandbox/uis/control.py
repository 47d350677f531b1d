"""What happens "in UIS" on demand: requests, chats, calls arrive and get processed (sandbox control)."""
from __future__ import annotations

import contextlib
from datetime import datetime

from bx_app.sandbox.uis import calls, notify
from bx_app.sandbox.uis import state as st
from bx_app.sandbox.uis.rpc import CODES


class ControlError(ValueError):
    """A control request that cannot be carried out (400 for the API, a flash for the page)."""


REFUSALS = (ControlError, notify.TemplateRefused, calls.CallRefused)


def _check_notify(state: st.UisState, events: list[str], body: dict) -> None:
    """Refuse bad notification options before anything is created (never half-done)."""
    method = body.get("notify_method")
    if method not in (None, "") and str(method).upper() not in ("POST", "GET"):
        raise ControlError("notify_method is POST or GET")
    if body.get("order") not in (None, "") and body["order"] not in st.DELIVERY_ORDERS:
        raise ControlError(f"order is one of {', '.join(st.DELIVERY_ORDERS)}")
    with state.lock:
        for event in events:
            _, chosen = notify.target(state, event, body)
            notify.template_for(state, event, chosen, notify.choice_for(event, body))


def _site(state: st.UisState, value) -> dict | None:
    if value in (None, ""):
        return None
    site = state.site(value)
    if site is None:
        raise ControlError(f"unknown site {value!r}")
    return site


def _employee(state: st.UisState, value, default=None) -> dict | None:
    employee_id = value if value not in (None, "") else default
    if employee_id is None:
        return None
    employee = state.employee(int(employee_id))
    if employee is None:
        raise ControlError(f"unknown employee {employee_id!r}")
    return employee


def _marketing(body: dict) -> dict:
    return {k: body.get(k) or None for k in st.MARKETING + ["campaign_id", "campaign_name"]}


def _check_time(body: dict, name: str = "date_time") -> None:
    """A report time given by the caller must be one the reports can read back."""
    value = body.get(name)
    if value in (None, ""):
        return
    try:
        datetime.strptime(str(value), st.TIME_FORMAT)
    except ValueError as exc:
        raise ControlError(f"{name} is YYYY-MM-DD hh:mm:ss in the account's zone") from exc


def create_offline_message(state: st.UisState, body: dict) -> dict:
    _check_notify(state, ["offline_message"], body)
    _check_time(body)
    with state.lock:
        site = _site(state, body.get("site_id", body.get("site")))
        when = body.get("date_time") or state.now()
        visitor_id = body.get("visitor_id") or state.next_id("visitor")
        row = st.pad({
            "id": state.next_id("offline"), "date_time": when,
            "text": body.get("text") or body.get("visitor_message") or "",
            "communication_id": state.next_id("communication"), "communication_number": 1,
            "communication_page_url": body.get("communication_page_url")
            or (f"https://{site['domain_name']}/" if site else None),
            "communication_type": "offline_message", "status": "not_processed", "process_time": None,
            "form_type": body.get("form_type") or ("Пользовательская" if body.get("form_name") else "Стандартная"),
            "form_name": body.get("form_name") or None,
            "is_agree_to_process_personal_data": True, "is_agree_to_mailing": False,
            "site_id": site["id"] if site else None, "site_domain_name": site["domain_name"] if site else None,
            "visitor_id": visitor_id, "visitor_name": body.get("visitor_name") or body.get("name") or None,
            "visitor_phone_number": body.get("visitor_phone_number") or body.get("phone") or None,
            "visitor_email": body.get("visitor_email") or body.get("email") or None,
            "visitor_session_id": state.next_id("session"), "person_id": state.next_id("person"),
            "visitor_type": "Новый", "tags": [], **_marketing(body),
        }, st.OFFLINE_FIELDS)
        state.offline_messages.append(row)
        state._remember_visitor(visitor_id, row["visitor_name"], row["visitor_phone_number"], row["visitor_email"])
    at = notify.event_time("offline_message", row)
    return {"row": row, "deliveries": notify.deliver(state, "offline_message", row, body, at)}


def process_offline_message(state: st.UisState, message_id: int, body: dict) -> dict:
    with state.lock:
        row = next((r for r in state.offline_messages if r["id"] == message_id), None)
        if row is None:
            raise ControlError(f"no offline message {message_id}")
        employee = _employee(state, body.get("employee_id"), 45012)
        row.update(status="processed", process_time=body.get("process_time") or state.now(),
                   employee_id=employee["id"], employee_full_name=employee["full_name"],
                   employee_comment=body.get("employee_comment"))
    return {"row": row}


def create_chat(state: st.UisState, body: dict) -> dict:
    _check_time(body)
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            _check_time(message)
    with state.lock:
        channel = state.channel(body.get("channel_id") or body.get("chat_channel_id") or 3101)
        if channel is None:
            raise ControlError(f"unknown chat channel {body.get('channel_id')!r}")
        site = _site(state, body.get("site_id", body.get("site")))
        if site is None and channel["type"] == "comagic":
            site = state.site(7301)
        status = body.get("status") or "new"
        if status not in ("new", "active"):
            raise ControlError("a new chat is new or active")
        employee = _employee(state, body.get("employee_id"), 45012 if status == "active" else None)
        visitor_id = body.get("visitor_id") or state.next_id("visitor")
        name = body.get("visitor_name") or body.get("name") or None
        phone = body.get("visitor_phone_number") or body.get("phone") or None
        state._remember_visitor(visitor_id, name, phone, body.get("visitor_email") or body.get("email") or None)
        row = st.pad({
            "id": state.next_id("chat"), "status": status, "initiator": body.get("initiator") or "visitor",
            "date_time": body.get("date_time") or state.now(), "duration": "0", "answer_time": None,
            "communication_id": state.next_id("communication"), "communication_number": 1,
            "communication_type": "chat", "is_group_chat": False, "is_transfer": False, "release_cause": None,
            "messages_count": 0, "chat_channel_id": channel["id"], "chat_channel_type": channel["type"],
            "chat_channel_name": channel["name"], "chat_user_id": body.get("chat_user_id"),
            "chat_username": body.get("chat_username"),
            "employee_id": employee["id"] if employee else None,
            "employee_full_name": employee["full_name"] if employee else None,
            "site_id": site["id"] if site else None, "site_domain_name": site["domain_name"] if site else None,
            "visitor_id": visitor_id, "visitor_phone_number": phone, "person_id": state.next_id("person"),
            "visitor_type": "Новый", "visitor_session_id": state.next_id("session"), "tags": [],
            **_marketing(body),
        }, st.CHAT_FIELDS)
        state.chats.append(row)
        messages = body.get("messages")
        if messages is None:
            messages = [{"source": "visitor", "text": body["text"]}] if body.get("text") else []
        added = [_add_message(state, row, m) for m in messages]
    return {"row": row, "messages": added}


def _add_message(state: st.UisState, chat: dict, body: dict) -> dict:
    source = body.get("source") or "visitor"
    employee = None
    if source == "operator":
        employee = _employee(state, body.get("employee_id"), chat.get("employee_id") or 45012)
        if chat["status"] == "new":
            chat.update(status="active", employee_id=employee["id"], employee_full_name=employee["full_name"])
    message = st.pad({
        "id": state.next_id("message"), "chat_id": chat["id"], "channel_id": chat["chat_channel_id"],
        "channel_type": chat["chat_channel_type"], "date_time": body.get("date_time") or state.now(),
        "is_group_chat": False, "visitor_id": chat["visitor_id"], "text": body.get("text") or "",
        "source": source, "resource": body.get("resource"),
        "employee_id": employee["id"] if employee else None,
        "employee_full_name": employee["full_name"] if employee else None,
    }, st.MESSAGE_FIELDS)
    state.chat_messages.append(message)
    chat["messages_count"] = (chat.get("messages_count") or 0) + 1
    return message


def _chat(state: st.UisState, chat_id: int) -> dict:
    chat = next((c for c in state.chats if c["id"] == chat_id), None)
    if chat is None:
        raise ControlError(f"no chat {chat_id}")
    return chat


def add_chat_message(state: st.UisState, chat_id: int, body: dict) -> dict:
    _check_time(body)
    with state.lock:
        chat = _chat(state, chat_id)
        if chat["status"] not in ("new", "active"):
            raise ControlError(f"chat {chat_id} is closed")
        return {"row": _add_message(state, chat, body), "chat": chat}


def finish_chat(state: st.UisState, chat_id: int, body: dict) -> dict:
    _check_notify(state, ["chat_finished", "lost_chat"], body)
    with state.lock:
        chat = _chat(state, chat_id)
        if chat["status"] not in ("new", "active"):
            raise ControlError(f"chat {chat_id} is already finished")
        sources = {m["source"] for m in state.chat_messages if m["chat_id"] == chat_id}
        status = body.get("status") or ("succeed" if {"operator", "visitor"} <= sources else "lost")
        if status not in ("succeed", "lost", "refused"):
            raise ControlError("status is succeed, lost or refused")
        started = chat["date_time"]
        chat.update(status=status, release_cause=body.get("release_cause")
                    or ("closed_by_operator" if status == "succeed" else "closed_by_timeout"))
        with contextlib.suppress(ValueError):
            chat["duration"] = str(max(0, int((datetime.strptime(state.now(), st.TIME_FORMAT)
                                                - datetime.strptime(started, st.TIME_FORMAT)).total_seconds())))
    event = "lost_chat" if status == "lost" else "chat_finished"
    return {"row": chat, "deliveries": notify.deliver(state, event, chat, body, notify.event_time(event, chat))}


def create_call(state: st.UisState, body: dict, public_url: str = "") -> dict:
    """A call placed in the cabinet: stored for get.calls_report, its notifications sent in order."""
    _check_notify(state, st.CALL_EVENTS, body)
    return calls.place(state, body, state.public_url or public_url)


def finish_call(state: st.UisState, call_id: int, body: dict) -> dict:
    _check_notify(state, st.CALL_EVENTS, body)
    return calls.finish(state, call_id, body)


def configure_notifications(state: st.UisState, body: dict) -> dict:
    """The cabinet's "Уведомления" page: the hook URL, delivery options, per event name/method/template.

    body: hook_url, public_url, duplicate, order, seed, and events: {event: {name, method, active,
    template: "default" | text, templates: {POST: text, GET: text}}}; or one event as event + the same keys.
    """
    events = dict(body.get("events") or {})
    if body.get("event"):
        events[body["event"]] = {k: body[k] for k in ("name", "method", "active", "template", "templates")
                                 if k in body}
    with state.lock:
        updates = {}
        for event, change in events.items():
            if event not in state.notifications:
                raise ControlError(f"unknown event {event!r}; the sandbox sends {', '.join(st.NOTIFIED_EVENTS)}")
            updates[event] = _notification_change(state.notifications[event], event, change or {})
        if "order" in body and body["order"] not in st.DELIVERY_ORDERS:
            raise ControlError(f"order is one of {', '.join(st.DELIVERY_ORDERS)}")
        for key in ("hook_url", "public_url"):
            if key in body:
                value = (body[key] or "").strip() or None
                if value and not value.startswith(("http://", "https://")):
                    raise ControlError(f"{key} is an http(s) URL")
                setattr(state, key, value.rstrip("/") if value and key == "public_url" else value)
        for key in ("duplicate", "order", "seed"):
            if key in body:
                state.delivery[key] = bool(body[key]) if key == "duplicate" else body[key]
        for event, setting in updates.items():
            state.notifications[event] = setting
        return state.notification_settings()


def _notification_change(current: dict, event: str, change: dict) -> dict:
    setting = dict(current)
    if "name" in change:
        setting["name"] = str(change["name"] or "").strip() or current["name"]
    if "method" in change:
        method = str(change["method"] or "").upper()
        if method not in ("POST", "GET"):
            raise ControlError(f"{event}: method is POST or GET")
        setting["method"] = method
    if "active" in change:
        setting["active"] = bool(change["active"])
    texts = dict(change.get("templates") or {})
    if "template" in change:
        texts[setting["method"]] = change["template"]
    if texts:
        pasted = dict(current.get("template") or {})
        for method, text in texts.items():
            method = str(method).upper()
            if method not in ("POST", "GET"):
                raise ControlError(f"{event}: templates are keyed POST or GET")
            if text in (None, *notify.DEFAULT_CHOICES):
                pasted.pop(method, None)
            else:
                try:
                    pasted[method] = notify.check_template(event, method, text)
                except notify.TemplateRefused as error:
                    raise ControlError(f"{event} {method}: {error}") from error
        setting["template"] = pasted or None
    return setting


def configure(state: st.UisState, body: dict) -> dict:
    delivery_keys = ("hook_url", "public_url", "duplicate", "order", "seed")
    if any(key in body for key in delivery_keys):
        configure_notifications(state, {k: body[k] for k in delivery_keys if k in body})
    with state.lock:
        if "minute_limit" in body:
            state.minute.limit = int(body["minute_limit"])
        if "day_limit" in body:
            state.day.limit = int(body["day_limit"])
        if "minute_remaining" in body:
            state.minute.set_remaining(int(body["minute_remaining"]))
        if "day_remaining" in body:
            state.day.set_remaining(int(body["day_remaining"]))
        if "ip_allowlist_enabled" in body:
            state.ip_allowlist_enabled = bool(body["ip_allowlist_enabled"])
        if "allowed_ips" in body:
            state.allowed_ips = [str(ip) for ip in body["allowed_ips"]]
        if "caller_ip" in body:
            state.caller_ip = body["caller_ip"] or None
        for token, status in (body.get("tokens") or {}).items():
            if status not in ("active", "blocked", "expired", "deleted"):
                raise ControlError(f"token status {status!r}: active, blocked, expired or deleted")
            if status == "deleted":
                state.tokens.pop(token, None)
            else:
                state.tokens.setdefault(token, {"kind": "key", "expire_at": None})["status"] = status
        if "fail_next" in body:
            rules = body["fail_next"]
            rules = [rules] if isinstance(rules, dict) else list(rules or [])
            for rule in rules:
                if rule.get("mnemonic", "internal_error") not in CODES:
                    raise ControlError(f"unknown mnemonic {rule.get('mnemonic')!r}")
                rule.setdefault("count", 1)
            state.fail_next = rules
        if "disabled_methods" in body:
            state.disabled_methods = set(body["disabled_methods"] or [])
        if "app_url" in body:
            state.app_url = body["app_url"] or None
        return state.config()
