"""Customers' personal data kept only as long as needed: old payloads pruned, an uninstalled portal's data deleted.

An event's payload (phones, e-mails, names, chat transcripts, form fields) and the plan in its result
are kept PERSONAL_DATA_DAYS after the event arrived; then the journal row stays with its status, times,
reason and the ids of what was created in Bitrix24, without the personal data. A portal uninstalled
with "delete data" (ONAPPUNINSTALL `data[CLEAN]`) loses everything at once; otherwise after
UNINSTALL_GRACE_DAYS, so that a re-install within the grace period finds its settings again.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import delete, select

from bx_app.extensions import db
from bx_app.models import Credential, Event, Portal
from bx_app.models.account import PortalStatus
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow

log = logging.getLogger(__name__)

PRUNED = {"pruned": True}
# Result keys that hold what the plan said (field values included); ids of created entities stay.
_PERSONAL_RESULT_KEYS = ("plan",)
_FINISHED = (EventStatus.DONE, EventStatus.SKIPPED, EventStatus.FAILED)


def prune_old_events(days: int, batch: int = 500) -> int:
    """Strip the personal data of finished events older than ``days``; commits per batch; returns how many."""
    cutoff = utcnow() - timedelta(days=days)
    pruned = 0
    last_id = 0
    while True:
        rows = (Event.query.filter(Event.id > last_id, Event.created_at < cutoff, Event.status.in_(_FINISHED))
                .order_by(Event.id).limit(batch).all())
        if not rows:
            return pruned
        for event in rows:
            last_id = event.id
            if event.payload == PRUNED:
                continue
            event.payload = dict(PRUNED)
            if isinstance(event.result, dict):
                event.result = {k: v for k, v in event.result.items() if k not in _PERSONAL_RESULT_KEYS}
            event.last_error = None  # Bitrix24's words may quote the values it refused
            pruned += 1
        db.session.commit()


def delete_portal_data(portal: Portal) -> dict:
    """Delete everything stored for a portal: its credential's journal, settings, references, cursors,
    claims, the credential and the portal row itself (tokens included); commits."""
    credential_ids = [row[0] for row in db.session.execute(
        select(Credential.id).where(Credential.portal_id == portal.id))]
    counts = {}
    # Every table that points at a credential (found from the schema: a table added later is included).
    for table in reversed(db.metadata.sorted_tables):
        column = table.columns.get("credential_id")
        if column is None or not column.foreign_keys:
            continue
        result = db.session.execute(delete(table).where(column.in_(credential_ids)))
        counts[table.name] = result.rowcount
    db.session.execute(delete(Credential).where(Credential.id.in_(credential_ids)))
    member_id = portal.member_id
    db.session.execute(delete(Portal).where(Portal.id == portal.id))
    db.session.commit()
    log.info("deleted all data of portal member_id=%s: %s", member_id, counts)
    return counts


def delete_uninstalled_portals(grace_days: int) -> int:
    """Portals uninstalled more than ``grace_days`` ago lose their data; returns how many."""
    cutoff = utcnow() - timedelta(days=grace_days)
    portals = Portal.query.filter(Portal.status == PortalStatus.UNINSTALLED, Portal.uninstalled_at < cutoff).all()
    for portal in portals:
        delete_portal_data(portal)
    return len(portals)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def events_of_customer(credential_id: int, contact: str) -> list[Event]:
    """The credential's events whose payload mentions this phone (any spelling, last 10 digits) or e-mail."""
    contact = (contact or "").strip()
    email = contact.lower() if "@" in contact else ""
    digits = _digits(contact)[-10:] if not email else ""
    if not email and len(digits) < 6:
        return []
    found = []
    for event in Event.query.filter(Event.credential_id == credential_id).order_by(Event.id).yield_per(500):
        if event.payload == PRUNED:
            continue
        text = json.dumps([event.payload, event.result], ensure_ascii=False)
        if (email and email in text.lower()) or (digits and digits in _digits(text)):
            found.append(event)
    return found


def erase_customer(credential_id: int, contact: str) -> int:
    """A customer's erasure request (152-FZ / GDPR): their events keep only status, times and entity ids."""
    events = events_of_customer(credential_id, contact)
    for event in events:
        event.payload = dict(PRUNED)
        if isinstance(event.result, dict):
            event.result = {k: v for k, v in event.result.items() if k not in _PERSONAL_RESULT_KEYS}
        event.last_error = None
    db.session.commit()
    log.info("erased the personal data of one customer from %d events of credential %s", len(events),
             credential_id)
    return len(events)
