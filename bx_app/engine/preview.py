"""The engine's decision for a credential's recent events under draft settings, without asking Bitrix24.

The settings window's preview shows it: the same group data, facts, lookup (with nothing found) and
planner the engine uses, so the preview cannot disagree with the engine about a first contact.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bx_app import channels
from bx_app.engine.drain import lookup_of
from bx_app.engine.prepare import build_group, facts_of, planner_settings
from bx_app.engine.work import Group, Work
from bx_app.extensions import db
from bx_app.integration.planner import Decision, EventFacts, decide
from bx_app.models import Credential, Event
from bx_app.typed_settings import parse_channel

RECENT_EVENTS = 20


@dataclass(frozen=True)
class Previewed:
    event: Event
    facts: EventFacts
    decision: Decision


def draft_group(credential_id: int, channel_key: str, options: dict) -> Group:
    """The engine's group for the credential, with the draft options (over the saved ones, parsed as the store
    parses them) as if the integration and the channel were on (the preview is about what they would do)."""
    credential = db.session.get(Credential, credential_id)
    group = build_group(credential.portal, credential)
    saved = group.typed_settings
    draft = parse_channel(channel_key, {**options, "active": True}, saved.channel(channel_key).as_dict())
    group.typed_settings = replace(saved, main=replace(saved.main, active=True), **{channel_key: draft})
    group.settings = planner_settings(group.typed_settings, group.reference)
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
