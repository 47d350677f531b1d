"""Sandbox notifications: render a UIS HTTP template from a report row and deliver it to a hook URL.

The sandbox knows only what a UIS cabinet knows: the event directory, the default template per event and
method, and the variables those templates use (reference §10 and its directory fixture). A template the
app suggests reaches it the way it reaches UIS: an administrator pastes it (control API or cabinet form).
"""
from __future__ import annotations

import json
import random
import re
import threading
from datetime import datetime, timedelta
from urllib.parse import quote

import requests

from bx_app.sandbox.uis import seed
from bx_app.sandbox.uis import state as st

PLACEHOLDER = re.compile(r"{{\s*(\w+)\s*}}")
DEFAULT_CHOICES = ("", "default", "uis")


def placeholders(template: str) -> list[str]:
    """Variable names a template uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


# What each event offers: the variables of its default POST and GET templates (§10, directory fixture).
# A customer's "Завершение звонка" template in §10 also uses these, so call events offer them too.
CALL_EXTRA_VARIABLES = ["app_id", "communication_id", "communication_type", "notification_mnemonic",
                        "scenario_id", "start_time", "is_internal"]
EVENT_VARIABLES: dict[str, list[str]] = {
    event: list(dict.fromkeys(placeholders(texts.get("POST", "")) + placeholders(texts.get("GET", ""))
                              + (CALL_EXTRA_VARIABLES if event in st.CALL_EVENTS else [])))
    for event, texts in seed.UIS_DEFAULT_TEMPLATES.items()
}


class TemplateRefused(ValueError):
    """A template the cabinet would not save (empty, or a POST body that cannot become JSON)."""


def check_template(event: str, method: str, text: str) -> str:
    """Validate a pasted template as the cabinet form does; returns the text to keep."""
    text = (text or "").strip()
    if not text:
        raise TemplateRefused("the template is empty")
    if method == "POST":
        probe = PLACEHOLDER.sub("null", text)
        try:
            json.loads(probe)
        except ValueError as exc:
            raise TemplateRefused(f"the POST template is not JSON once its placeholders are filled: {exc}") from exc
    elif "\n" in text:
        raise TemplateRefused("a GET template is one query string line")
    return text


def default_template(event: str, method: str) -> str:
    return seed.UIS_DEFAULT_TEMPLATES[event][method]


def template_for(state: st.UisState, event: str, method: str, choice: str | None = None) -> str:
    """choice: None (the cabinet's setting for the event), "default"/"uis" (UIS's default) or a pasted text."""
    if choice is None:
        pasted = state.notifications.get(event, {}).get("template")
        if pasted and pasted.get(method):
            return pasted[method]
        return default_template(event, method)
    if choice in DEFAULT_CHOICES:
        return default_template(event, method)
    if choice == "app":
        raise TemplateRefused("UIS does not know the app's templates: paste the template text itself")
    return check_template(event, method, choice)


def render(template: str, values: dict, method: str) -> str:
    """As UIS renders (§10 ≈): JSON literals in POST bodies (missing → null), URL-encoded text in GET queries."""
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


def _shift(when: str | None, seconds: int) -> str | None:
    if not when:
        return None
    return (datetime.strptime(when, st.TIME_FORMAT) + timedelta(seconds=seconds)).strftime(st.TIME_FORMAT)


def event_time(event: str, row: dict, record_delay: int = 0) -> str | None:
    """When the event happened, in the account's zone, from the row (the report and the push agree)."""
    if event == "offline_message":
        return row.get("date_time")
    if event in ("chat_finished", "lost_chat"):
        try:
            return _shift(row.get("date_time"), int(row.get("duration") or 0))
        except ValueError:
            return row.get("date_time")
    if event in ("in_call_session", "out_call_session"):
        return row.get("start_time")
    if event == "talk_record_file":
        return _shift(row.get("finish_time"), record_delay)
    return row.get("finish_time")


def values_for(state: st.UisState, event: str, row: dict, at: str | None = None) -> dict:
    """Every variable the event offers, from the report row it is about; anything else renders as null."""
    values = {"notification_name": state.notifications.get(event, {}).get("name")
              or seed.NOTIFICATION_EVENTS.get(event), "notification_time": at or state.now()}
    if event == "offline_message":
        values.update({k: row.get(k) for k in (
            "visitor_name", "visitor_phone_number", "visitor_email", "visitor_id", "site_domain_name",
            "campaign_id", "campaign_name", "communication_id", "search_engine", "search_query")})
        values.update(visitor_message=row.get("text"), session_id=row.get("visitor_session_id"),
                      offline_message_id=row["id"])
    elif event in ("chat_finished", "lost_chat"):
        visitor = state.visitors.get(row.get("visitor_id")) or {}
        values.update({k: row.get(k) for k in (
            "communication_id", "visitor_id", "site_domain_name", "campaign_id", "campaign_name",
            "search_engine", "search_query", "ua_client_id", "employee_full_name", *st.UTM)})
        values.update(chat_id=row["id"], session_id=row.get("visitor_session_id"), visitor_name=visitor.get("name"),
                      messages=row.get("messages_count"), tag_ids=[t["tag_id"] for t in row.get("tags") or []],
                      status=row.get("status"))
    else:
        values.update(_call_values(state, row))
    offered = EVENT_VARIABLES.get(event, [])
    return {name: values.get(name) for name in offered}


def _call_values(state: st.UisState, row: dict) -> dict:
    employees = row.get("employees") or []
    talked = next((e for e in employees if e.get("is_talked")), None)
    caller = talked or (employees[0] if row.get("direction") == "out" and employees else None) or {}
    employee = state.employee(caller.get("employee_id")) or {}
    phones = employee.get("phone_numbers") or []
    records = row.get("call_records") or []
    tags = row.get("tags") or []
    return {
        **{k: row.get(k) for k in ("virtual_phone_number", "contact_phone_number", "communication_number",
                                   "scenario_name", "scenario_id", "contact_id", "contact_full_name", "direction",
                                   "communication_id", "communication_type", "start_time")},
        "call_session_id": row["id"], "external_id": row.get("call_api_external_id"), "call_source": row.get("source"),
        "employee_id": caller.get("employee_id"), "employee_full_name": caller.get("employee_full_name"),
        "employee_phone_number": phones[0]["phone_number"] if phones else None,
        "talk_time_duration": row.get("talk_duration"), "total_time_duration": row.get("total_duration"),
        "wait_time_duration": row.get("wait_duration"), "employee_ids": [e["employee_id"] for e in employees],
        "tag_ids": [t["tag_id"] for t in tags], "tag_names": [t["tag_name"] for t in tags],
        "file_link": row.get("full_record_file_link") if records else None,
        "file_duration": row.get("talk_duration") if records else None,
        "app_id": state.account["app_id"], "is_internal": False,
    }


def compose(state: st.UisState, event: str, row: dict, method: str, choice: str | None = None,
            at: str | None = None) -> str:
    """The text UIS would send for this event: the chosen template filled from the row."""
    values = values_for(state, event, row, at)
    if "notification_mnemonic" in values:
        values["notification_mnemonic"] = event
    return render(template_for(state, event, method, choice), values, method)


def target(state: st.UisState, event: str, options: dict) -> tuple[str | None, str]:
    """Where and how to send: the request's URL/method, else the cabinet's notification settings."""
    setting = state.notifications.get(event, {})
    url = options.get("notify_url") or (state.hook_url if setting.get("active", True) else None)
    method = str(options.get("notify_method") or setting.get("method") or "POST").upper()
    if method not in ("POST", "GET"):
        raise TemplateRefused("notify_method is POST or GET")
    return url or None, method


def choice_for(event: str, options: dict) -> str | None:
    templates = options.get("templates")
    if isinstance(templates, dict) and event in templates:
        return templates[event]
    return options.get("template")


def plan(state: st.UisState, events: list[tuple[str, dict, str | None]], options: dict) -> list[dict]:
    """Render each (event, row, time) into a sending; duplicate and reorder as asked. Caller holds the lock."""
    sendings = []
    for event, row, at in events:
        url, method = target(state, event, options)
        if not url:
            continue
        text = compose(state, event, row, method, choice_for(event, options), at)
        sendings.append({"event": event, "url": url, "method": method, "text": text})
    duplicate = options.get("duplicate", state.delivery["duplicate"])
    if duplicate:
        sendings = [s for s in sendings for _ in range(2)]
    order = options.get("order") or state.delivery["order"]
    if order not in st.DELIVERY_ORDERS:
        raise TemplateRefused(f"order is one of {', '.join(st.DELIVERY_ORDERS)}")
    if order == "reversed":
        sendings.reverse()
    elif order == "shuffled":
        seed_value = options.get("seed", state.delivery.get("seed"))
        random.Random(seed_value).shuffle(sendings)
    if sendings:
        state.last_hook_url = sendings[-1]["url"]
    return sendings


def send_all(state: st.UisState, sendings: list[dict], asynchronous: bool = False) -> list[dict]:
    """Send one after another (the order planned); report each attempt, never raise."""
    if asynchronous:
        threading.Thread(target=lambda: [_send(state, **s) for s in sendings], daemon=True).start()
        return [{"event": s["event"], "url": s["url"], "method": s["method"], "queued": True} for s in sendings]
    return [_send(state, **s) for s in sendings]


def deliver(state: st.UisState, event: str, row: dict, options: dict, at: str | None = None) -> list[dict]:
    """One event's notification (twice with `duplicate`). options: notify_url, notify_method, template, async."""
    with state.lock:
        sendings = plan(state, [(event, row, at)], options)
    return send_all(state, sendings, bool(options.get("async")))


def _send(state: st.UisState, event: str, url: str, method: str, text: str) -> dict:
    record = {"event": event, "url": url, "method": method, "body": text, "status": None, "ok": False,
              "error": None}
    try:
        if method == "GET":
            target_url = url + ("&" if "?" in url else "?") + text
            record["url"] = target_url
            response = requests.get(target_url, timeout=10)
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
