"""Outbound events (ONAPPINSTALL, ONAPPUNINSTALL, ...): form-encoded POSTs sent from a queue thread, no retries."""
from __future__ import annotations

import logging
import threading

import requests

from .state import PortalState, SandboxState

log = logging.getLogger(__name__)
DELIVERY_TIMEOUT_SECONDS = 10


def install_event_form(state: SandboxState, portal: PortalState, grant, handler_id: int = 0) -> dict:
    """ONAPPINSTALL per onappinstall_event.json (bracket keys, string values)."""
    return {
        "event": "ONAPPINSTALL", "event_handler_id": str(handler_id),
        "data[VERSION]": "1", "data[ACTIVE]": "Y", "data[INSTALLED]": "Y", "data[LANGUAGE_ID]": portal.language,
        "ts": str(int(state.now())),
        **state.auth_fields(portal, grant),
    }


def uninstall_event_form(state: SandboxState, portal: PortalState, handler_id: int, clean: bool) -> dict:
    """ONAPPUNINSTALL per onappuninstall_event.json: no tokens at all."""
    return {
        "event": "ONAPPUNINSTALL", "event_handler_id": str(handler_id),
        "data[LANGUAGE_ID]": portal.language, "data[CLEAN]": "1" if clean else "0", "ts": str(int(state.now())),
        "auth[domain]": portal.domain, "auth[server_endpoint]": state.server_of(portal).server_endpoint,
        "auth[client_endpoint]": portal.client_endpoint, "auth[member_id]": portal.member_id,
        "auth[application_token]": portal.application_token,
    }


def deliver(state: SandboxState, portal: PortalState, url: str, form: dict, *, background: bool = True) -> dict:
    """Queue one delivery; its outcome lands in portal.deliveries (status, error) when done."""
    with state.lock:
        record = {"event": form.get("event"), "url": url, "form": dict(form), "status": None, "error": None,
                  "done": False, "queued_at": state.now()}
        portal.deliveries.append(record)

    def send() -> None:
        status, error = None, None
        try:
            if state.event_sender is not None:
                state.event_sender(portal, url, form)
                status = 200
            else:
                response = requests.post(url, data=form, timeout=DELIVERY_TIMEOUT_SECONDS, allow_redirects=False)
                status = response.status_code
        except Exception as exc:  # noqa: BLE001 - Bitrix24 drops failed deliveries, we only record them
            error = f"{type(exc).__name__}: {exc}"
            log.warning("event %s to %s failed: %s", form.get("event"), url, error)
        with state.lock:
            record.update(status=status, error=error, done=True)

    if background:
        threading.Thread(target=send, name=f"b24-event-{form.get('event')}", daemon=True).start()
    else:
        send()
    return record
