"""Sandbox notifications: render a UIS HTTP template from a row and deliver it to a hook URL."""
from __future__ import annotations

import json
import re
import threading
from urllib.parse import quote

import requests

from bx_app.sandbox.uis import seed
from bx_app.sandbox.uis.state import UisState

# The templates the app tells users to paste (flat, with an "event" key). Kept here, not imported: the
# sandbox stands in for UIS, which only knows what the user pasted.
APP_TEMPLATE_VARIABLES = {
    "offline_message": [
        "notification_name", "notification_time", "offline_message_id", "communication_id",
        "visitor_name", "visitor_phone_number", "visitor_email", "visitor_message", "visitor_id", "session_id",
        "site_domain_name", "campaign_id", "campaign_name", "search_engine", "search_query",
    ],
    "chat_finished": [
        "notification_name", "notification_time", "chat_id", "communication_id", "status", "messages",
        "employee_full_name", "visitor_name", "visitor_id", "session_id", "site_domain_name", "campaign_id",
        "campaign_name", "search_engine", "search_query", "ua_client_id", "utm_source", "utm_medium",
        "utm_campaign", "utm_term", "utm_content", "tag_ids",
    ],
    "call_session_finished": [
        "notification_name", "notification_time", "call_session_id", "external_id", "direction", "call_source",
        "virtual_phone_number", "contact_phone_number", "communication_number", "employee_id",
        "employee_full_name", "scenario_name", "talk_time_duration", "total_time_duration",
        "wait_time_duration", "tag_names",
    ],
}
APP_TEMPLATE_VARIABLES["lost_chat"] = [v for v in APP_TEMPLATE_VARIABLES["chat_finished"] if v != "status"]
APP_TEMPLATE_VARIABLES["lost_call_session"] = [
    "notification_name", "notification_time", "call_session_id", "virtual_phone_number", "scenario_name",
    "contact_phone_number", "communication_number", "contact_id", "contact_full_name", "wait_time_duration",
    "employee_ids",
]
NOTIFICATION_NAMES = {
    "offline_message": "Sandbox: офлайн заявка", "chat_finished": "Sandbox: завершение чата",
    "lost_chat": "Sandbox: потерянный чат", "call_session_finished": "Sandbox: завершение звонка",
    "lost_call_session": "Sandbox: потерянный звонок",
}
PLACEHOLDER = re.compile(r"{{\s*(\w+)\s*}}")


def app_template(event: str, method: str) -> str:
    names = APP_TEMPLATE_VARIABLES[event]
    if method == "GET":
        return "&".join([f"event={event}"] + [f"{name}={{{{{name}}}}}" for name in names])
    lines = [f'  "event": "{event}"'] + [f'  "{name}": {{{{{name}}}}}' for name in names]
    return "{\n" + ",\n".join(lines) + "\n}"


def template_for(event: str, method: str, choice: str | None) -> str:
    """choice: "app" (default: what the app asks users to paste), "uis" (the cabinet's default) or a text."""
    if choice in (None, "", "app"):
        return app_template(event, method)
    if choice == "uis":
        return seed.UIS_DEFAULT_TEMPLATES[event][method]
    return choice


def render(template: str, values: dict, method: str) -> str:
    """As UIS renders: JSON literals in POST bodies (missing → null), URL-encoded text in GET queries."""
    def substitute(match):
        value = values.get(match.group(1))
        if method == "POST":
            return json.dumps(value, ensure_ascii=False)
        if value is None:
            return ""
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        return quote(str(value), safe="")
    return PLACEHOLDER.sub(substitute, template)


def values_for(state: UisState, event: str, row: dict) -> dict:
    """Template variables of one event, taken from the report row it is about."""
    values = {"notification_name": NOTIFICATION_NAMES[event], "notification_time": state.now()}
    if event == "offline_message":
        values.update({k: row.get(k) for k in (
            "visitor_name", "visitor_phone_number", "visitor_email", "visitor_id", "site_domain_name",
            "campaign_id", "campaign_name", "communication_id", "search_engine", "search_query", *_utm())})
        values.update(visitor_message=row.get("text"), session_id=row.get("visitor_session_id"),
                      offline_message_id=row["id"])
    elif event in ("chat_finished", "lost_chat"):
        visitor = state.visitors.get(row.get("visitor_id")) or {}
        values.update({k: row.get(k) for k in (
            "communication_id", "visitor_id", "site_domain_name", "campaign_id", "campaign_name",
            "search_engine", "search_query", "ua_client_id", "employee_full_name", *_utm())})
        values.update(chat_id=row["id"], session_id=row.get("visitor_session_id"), visitor_name=visitor.get("name"),
                      messages=row.get("messages_count"), tag_ids=[t["tag_id"] for t in row.get("tags") or []])
        if event == "chat_finished":
            values["status"] = row.get("status")
    else:
        talked = next((e for e in row.get("employees") or [] if e.get("is_talked")), None) or {}
        values.update({k: row.get(k) for k in (
            "virtual_phone_number", "contact_phone_number", "communication_number", "scenario_name",
            "contact_id", "contact_full_name", "direction")})
        values.update(call_session_id=row["id"], external_id=row.get("call_api_external_id"), call_source="va",
                      employee_id=talked.get("employee_id"), employee_full_name=talked.get("employee_full_name"),
                      talk_time_duration=row.get("talk_duration"), total_time_duration=row.get("total_duration"),
                      wait_time_duration=row.get("wait_duration"), tag_names=[t["tag_name"] for t in
                                                                                row.get("tags") or []],
                      employee_ids=[e["employee_id"] for e in row.get("employees") or []])
    return values


def _utm() -> list[str]:
    return ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]


def deliver(state: UisState, event: str, row: dict, options: dict) -> list[dict]:
    """Send the notification (twice with `duplicate`); report each attempt, never raise.

    options: notify_url, notify_method (POST|GET), duplicate, template, async.
    """
    url = options.get("notify_url")
    if not url:
        return []
    method = str(options.get("notify_method") or "POST").upper()
    if method not in ("POST", "GET"):
        method = "POST"
    with state.lock:
        state.last_hook_url = url
        text = render(template_for(event, method, options.get("template")), values_for(state, event, row), method)
    times = 2 if options.get("duplicate") else 1
    if options.get("async"):
        thread = threading.Thread(target=lambda: [_send(state, event, url, method, text) for _ in range(times)],
                                  daemon=True)
        thread.start()
        return [{"event": event, "url": url, "method": method, "queued": True} for _ in range(times)]
    return [_send(state, event, url, method, text) for _ in range(times)]


def _send(state: UisState, event: str, url: str, method: str, text: str) -> dict:
    record = {"event": event, "url": url, "method": method, "body": text, "status": None, "ok": False,
              "error": None}
    try:
        if method == "GET":
            target = url + ("&" if "?" in url else "?") + text
            record["url"] = target
            response = requests.get(target, timeout=10)
        else:
            response = requests.post(url, data=text.encode("utf-8"), timeout=10,
                                     headers={"Content-Type": "application/json; charset=UTF-8"})
        record["status"] = response.status_code
        record["ok"] = 200 <= response.status_code < 300
        record["response"] = response.text[:500]
    except Exception as exc:  # noqa: BLE001 - a failed delivery is a result to report, like UIS's send log
        record["error"] = f"{exc.__class__.__name__}: {exc}"
    with state.lock:
        state.deliveries.append(record)
    return record
