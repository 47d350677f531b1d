"""The engine's decision for a credential's recent events under draft settings, without asking Bitrix24.

The settings window's preview shows it: the same group data, facts, lookup (with nothing found) and
planner the engine uses, so the preview cannot disagree with the engine about a first contact.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from bx_app import channels
from bx_app.engine.drain import lookup_of
from bx_app.engine.prepare import build_group, facts_of
from bx_app.engine.work import Group, Work
from bx_app.extensions import db
from bx_app.integration.planner import Decision, EventFacts, decide
from bx_app.models import Credential, Event

RECENT_EVENTS = 20


@dataclass(frozen=True)
class Previewed:
    event: Event
    facts: EventFacts
    decision: Decision


def draft_group(credential_id: int, channel_key: str, options: dict) -> Group:
    """The engine's group for the credential, with the draft options as if the integration and the channel
    were on (the preview is about what the options would do)."""
    credential = db.session.get(Credential, credential_id)
    group = build_group(credential.portal, credential)
    settings = copy.deepcopy(group.settings)
    settings["main"]["active"] = True
    draft = {**copy.deepcopy(options), "active": True}
    saved_channels = (settings.get(channel_key) or {}).get("channels")
    if isinstance(draft.get("channels"), dict) and isinstance(saved_channels, dict) and "known_ids" in saved_channels:
        draft["channels"]["known_ids"] = saved_channels["known_ids"]
    elif isinstance(draft.get("channels"), dict) and draft["channels"].get("mode", "all") == "all" \
            and draft["channels"].get("include_new") is False:
        draft["channels"]["known_ids"] = group.reference.known_channel_ids
    settings[channel_key] = draft
    group.settings = settings
    return group


def engine_decision(group: Group, event: Event) -> Previewed:
    """What the engine decides for the event when Bitrix24 has nothing for it yet."""
    facts = facts_of(event, group.zone)
    work = Work(event_id=event.id, facts=facts, attempts=0, written=None)
    return Previewed(event, facts, decide(facts, group.settings, lookup_of(group, work), group.lang))


def preview(credential_id: int, channel_key: str, options: dict) -> list[Previewed]:
    """The recent events of the channel, newest first, each with the engine's decision (in the portal's language)."""
    group = draft_group(credential_id, channel_key, options)
    events = (Event.query.filter_by(credential_id=credential_id, kind=channels.BY_KEY[channel_key].kind)
              .order_by(Event.id.desc()).limit(RECENT_EVENTS).all())
    return [engine_decision(group, event) for event in events]
