"""Calls in the sandbox UIS: one call's report row and legs (§8), its record file and its notifications (§10)."""
from __future__ import annotations

import secrets
from datetime import datetime

from bx_app.sandbox.uis import notify
from bx_app.sandbox.uis import state as st

DEFAULT_VIRTUAL_NUMBER = "74951234567"
DEFAULT_EMPLOYEES = (45012, 45013)  # who the seeded scenario rings, in order
RECORD_DELAY = 43  # seconds from the end of a call to its record notification (as in the reference fixtures)
RING_SECONDS = 20  # how long one employee's phone rings before the next one is tried

# One silent MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz, no CRC): 417 bytes; all-zero side information
# decodes as silence. A record of N frames lasts N × 26 ms.
_MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0x04]) + bytes(413)


def record_body(frames: int = 40) -> bytes:
    """A small valid MP3 file (about a second of silence) for /media/<communication_id>/<record>."""
    return _MP3_FRAME * frames


class CallRefused(ValueError):
    """A call the control API cannot place; the message says which field is wrong."""


def _int(body: dict, name: str, default: int, low: int = 0, high: int = 86_400) -> int:
    value = body.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise CallRefused(f"{name} is a whole number of seconds") from exc
    if not low <= number <= high:
        raise CallRefused(f"{name} is between {low} and {high}")
    return number


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def _scenario_for(state: st.UisState, virtual_number: str) -> dict | None:
    for number in state.virtual_numbers:
        if number["virtual_phone_number"] == virtual_number:
            active = [s for s in number.get("scenarios") or [] if s.get("is_active")]
            if active:
                return {"id": active[0]["scenario_id"], "name": active[0]["scenario_name"]}
    for scenario in state.scenarios:
        if virtual_number in (scenario.get("virtual_phone_numbers") or []):
            return {"id": scenario["id"], "name": scenario["name"]}
    return None


def _employees(state: st.UisState, body: dict, direction: str) -> list[dict]:
    """Who the call reached: the chosen employee, or for an incoming call the scenario's employees in turn."""
    chosen = body.get("employee_id")
    if chosen not in (None, ""):
        try:
            employee = state.employee(int(chosen))
        except (TypeError, ValueError) as exc:
            raise CallRefused(f"unknown employee {chosen!r}") from exc
        if employee is None:
            raise CallRefused(f"unknown employee {chosen!r}")
        return [employee]
    ids = DEFAULT_EMPLOYEES[:1] if direction == "out" else DEFAULT_EMPLOYEES
    return [state.employee(i) for i in ids]


def place(state: st.UisState, body: dict, public_url: str) -> dict:
    """A call as the cabinet's "Позвонить" form places it: the row for the report and its notifications.

    body: direction in|out, answered (bool), with_record (bool), contact_phone_number, virtual_phone_number,
    employee_id, wait_duration, talk_duration, start_time, site_id, utm_*; ongoing (only the start is sent;
    /control/calls/<id>/finish ends it); events (the subscribed call events), notify_url, notify_method,
    template / templates, duplicate, order (in_order | reversed | shuffled), seed, async.
    """
    direction = str(body.get("direction") or "in")
    if direction not in ("in", "out"):
        raise CallRefused("direction is in or out")
    answered = _flag(body, "answered", not _flag(body, "is_lost", False))
    with_record = _flag(body, "with_record", answered) and answered
    contact = str(body.get("contact_phone_number") or body.get("phone") or "").strip()
    if not contact:
        raise CallRefused("contact_phone_number is required")
    if not contact.lstrip("+").isdigit():
        raise CallRefused("contact_phone_number holds digits only, e.g. 79161112233")
    contact = contact.lstrip("+")
    virtual = str(body.get("virtual_phone_number") or DEFAULT_VIRTUAL_NUMBER)
    wait = _int(body, "wait_duration", 12 if answered else 45)
    talk = _int(body, "talk_duration", 90) if answered else 0
    events = _subscribed(body)
    start = body.get("start_time")
    if start not in (None, ""):
        try:
            datetime.strptime(str(start), st.TIME_FORMAT)
        except ValueError as exc:
            raise CallRefused("start_time is YYYY-MM-DD hh:mm:ss in the account's zone") from exc
    with state.lock:
        start = start or state.now()
        employees = _employees(state, body, direction)
        scenario = _scenario_for(state, virtual) if direction == "in" else None
        site = state.site(body.get("site_id")) if body.get("site_id") not in (None, "") else None
        if body.get("site_id") not in (None, "") and site is None:
            raise CallRefused(f"unknown site {body.get('site_id')!r}")
        call_id = state.next_id("call")
        earlier = sum(1 for c in state.calls if c.get("contact_phone_number") == contact)
        row = st.pad({
            "id": call_id, "start_time": start, "direction": direction, "source": "va", "is_transfer": False,
            "contact_phone_number": contact, "virtual_phone_number": virtual,
            "communication_id": call_id, "communication_type": "call", "communication_number": earlier + 1,
            "scenario_id": scenario["id"] if scenario else None, "scenario_name": scenario["name"] if scenario else None,
            "site_id": site["id"] if site else None, "site_domain_name": site["domain_name"] if site else None,
            "contact_id": None, "contact_full_name": body.get("contact_full_name") or None,
            "call_api_external_id": body.get("external_id") or None, "tags": [],
            **{k: body.get(k) or None for k in st.UTM},
        }, st.CALL_FIELDS)
        row["employees"] = []
        state.calls.append(row)
        outcome = {"answered": answered, "with_record": with_record, "wait": wait, "talk": talk,
                   "employees": employees, "public_url": public_url.rstrip("/"), "events": events}
        starting = "in_call_session" if direction == "in" else "out_call_session"
        plan_events = [(starting, row, row["start_time"])] if starting in events else []
        if _flag(body, "ongoing", False):
            state.ongoing_calls[call_id] = outcome
        else:
            plan_events += _finish(state, row, outcome)
        sendings = notify.plan(state, plan_events, body)
    return {"row": row, "deliveries": notify.send_all(state, sendings, bool(body.get("async")))}


def finish(state: st.UisState, call_id: int, body: dict) -> dict:
    """End an ongoing call as it was placed (answered or not, with a record or not) and send the rest."""
    with state.lock:
        outcome = state.ongoing_calls.pop(call_id, None)
        row = next((c for c in state.calls if c["id"] == call_id), None)
        if outcome is None or row is None:
            raise CallRefused(f"no ongoing call {call_id}")
        sendings = notify.plan(state, _finish(state, row, outcome), body)
    return {"row": row, "deliveries": notify.send_all(state, sendings, bool(body.get("async")))}


def _subscribed(body: dict) -> list[str]:
    events = body.get("events")
    if events in (None, ""):
        return list(st.CALL_EVENTS)
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",") if e.strip()]
    unknown = [e for e in events if e not in st.CALL_EVENTS]
    if unknown:
        raise CallRefused(f"unknown call event {unknown[0]!r}; known: {', '.join(st.CALL_EVENTS)}")
    return list(events)


def _finish(state: st.UisState, row: dict, outcome: dict) -> list[tuple[str, dict, str | None]]:
    """Complete the row and its legs; return the end-of-call events in the order UIS fires them (≈)."""
    answered, wait, talk = outcome["answered"], outcome["wait"], outcome["talk"]
    employees = outcome["employees"]
    talker = employees[-1] if answered else None  # the last one rung picks up
    record = secrets.token_hex(8) if outcome["with_record"] else None
    row.update({
        "finish_time": state.later(row["start_time"], wait + talk),
        # Mnemonics from the finish-reason table of the method page §8 cites.
        "finish_reason": "subscriber_disconnects" if answered or row["direction"] == "in"
        else "no_success_subscriber_call",
        "is_lost": not answered, "wait_duration": wait, "total_wait_duration": wait, "talk_duration": talk,
        "clean_talk_duration": talk, "total_duration": wait + talk,
        "call_records": [record] if record else [], "wav_call_records": [record] if record else [],
        "full_record_file_link": f"{outcome['public_url']}/media/{row['communication_id']}/{record}.mp3"
        if record else None,
        "voice_mail_records": [],
        "employees": [{"employee_id": e["id"], "employee_full_name": e["full_name"],
                       "is_answered": e is talker, "is_talked": e is talker} for e in employees],
    })
    for prefix in ("first_answered", "last_answered", "first_talked", "last_talked"):
        row[f"{prefix}_employee_id"] = talker["id"] if talker else None
        row[f"{prefix}_employee_full_name"] = talker["full_name"] if talker else None
    if row["direction"] == "out":
        row["operator_phone_number"] = _phone(employees[0])
    state.call_legs.extend(legs_of(state, row))
    subscribed = outcome["events"]
    end = [("lost_call_session", row, row["finish_time"])] if not answered and row["direction"] == "in" else []
    end.append(("call_session_finished", row, row["finish_time"]))
    if record:
        end.append(("talk_record_file", row, notify.event_time("talk_record_file", row, RECORD_DELAY)))
    return [e for e in end if e[0] in subscribed]


def _phone(employee: dict | None) -> str | None:
    phones = (employee or {}).get("phone_numbers") or []
    return phones[0]["phone_number"] if phones else None


def legs_of(state: st.UisState, row: dict) -> list[dict]:
    """The call's legs (§8 get.call_legs_report ≈): the customer's leg, then one per employee rung."""
    legs = []
    start, wait = row["start_time"], row.get("wait_duration") or 0
    talked = {e["employee_id"] for e in row.get("employees") or [] if e.get("is_talked")}
    common = {"call_session_id": row["id"], "virtual_phone_number": row["virtual_phone_number"],
              "scenario_id": row.get("scenario_id"), "scenario_name": row.get("scenario_name"),
              "contact_id": row.get("contact_id"), "contact_full_name": row.get("contact_full_name"),
              "contact_phone_number": row["contact_phone_number"], "is_transfered": False, "is_coach": False,
              "finish_reason": row.get("finish_reason"), "release_cause_code": 16,
              "release_cause_description": "Normal call clearing"}
    customer_in = row["direction"] == "in"
    legs.append(st.pad({
        **common, "id": state.next_id("leg"), "start_time": start,
        "connect_time": start if customer_in else (state.later(start, wait) if talked else None),
        "duration": row.get("total_duration") if customer_in else row.get("talk_duration"),
        "total_duration": row.get("total_duration"),
        "calling_phone_number": row["contact_phone_number"] if customer_in else row["virtual_phone_number"],
        "called_phone_number": row["virtual_phone_number"] if customer_in else row["contact_phone_number"],
        "direction": row["direction"], "is_operator": False, "is_talked": bool(talked), "is_failed": False,
        "call_records": row.get("call_records") or [], "wav_call_records": row.get("wav_call_records") or [],
    }, st.CALL_LEG_FIELDS))
    offset = 0
    for entry in row.get("employees") or []:
        employee = state.employee(entry["employee_id"]) or {}
        is_talked = entry["employee_id"] in talked
        ring = max(0, wait - offset) if is_talked else min(RING_SECONDS, max(0, wait - offset))
        group = (employee.get("groups") or [{}])[0]
        legs.append(st.pad({
            **common, "id": state.next_id("leg"), "start_time": state.later(start, offset),
            "connect_time": state.later(start, wait) if is_talked else None,
            "duration": (row.get("talk_duration") or 0) if is_talked else ring,
            "total_duration": ring + ((row.get("talk_duration") or 0) if is_talked else 0),
            "calling_phone_number": row["virtual_phone_number"] if customer_in else _phone(employee),
            "called_phone_number": _phone(employee) if customer_in else row["virtual_phone_number"],
            "direction": "out" if customer_in else "in", "is_operator": True,
            "employee_id": entry["employee_id"], "employee_full_name": entry["employee_full_name"],
            "employee_phone_number": _phone(employee), "is_talked": is_talked, "is_failed": False,
            "finish_reason": common["finish_reason"] if is_talked else "timeout",
            "group_id": group.get("group_id"), "group_name": group.get("group_name"),
            "call_records": (row.get("call_records") or []) if is_talked else [],
            "wav_call_records": (row.get("wav_call_records") or []) if is_talked else [],
        }, st.CALL_LEG_FIELDS))
        offset += RING_SECONDS
    return legs


def record_exists(state: st.UisState, communication_id: int, record: str) -> bool:
    name = record.rsplit(".", 1)[0] if record.endswith((".mp3", ".wav")) else record
    return any(c.get("communication_id") == communication_id and name in (c.get("call_records") or [])
               for c in state.calls)
