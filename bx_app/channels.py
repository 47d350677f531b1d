"""The channel registry: each kind of UIS communication described once (pure data; every layer reads it).

A channel is what the settings call a tab ("offline", "chats", "calls") and the journal an event kind
("offline_message", "chat", "call"). Its description names everything the app needs to know about it:
the settings key, stages and create-on choices, the UIS id field and notifications, the polling streams,
the engine's enrichment step and plan builder (by name: the engine and the planner hold the functions,
and tests check that every name a channel uses exists), and the words of its titles.
Adding a channel = one description here + its plan builder + its enrichment (docs/architecture.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field


def N_(text: str) -> str:
    """Marks a message for extraction (Babel's default keyword); it is translated where it is shown."""
    return text


@dataclass(frozen=True)
class Channel:
    kind: str                                   # Event.kind, ORIGIN_ID prefix: "offline_message"
    key: str                                    # settings key and settings tab: "offline"
    id_field: str                               # the communication's id in notifications and reports
    create_on: dict[str, frozenset[str]]        # create-on choice → the event stages that satisfy it
    default_create_on: str
    notifications: dict[str, str]               # UIS notification mnemonic → stage
    suggested_notifications: tuple[str, ...]    # the ones the app asks the UIS account to send it
    poll_streams: tuple[str, ...]               # PollCursor streams polling keeps for this channel
    enrichment: str | None                      # the engine's enrichment step (bx_app.engine.prepare.ENRICHMENT)
    plan_builder: str | None                    # the planner's builder (bx_app.integration.planner.BUILDERS)
    default_lead_source: str                    # Bitrix24 SOURCE_ID unless the Main tab says otherwise
    label: str                                  # the kind as the journal names it (msgid)
    words: dict[str, dict[str, str]] = field(default_factory=dict)  # per language, see _words()
    # create-on choice → the later stages that complete what the creating stage made (a call's finish
    # and record after a start, its record after a finish): they follow what was created, never filters.
    follow_ups: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def stages(self) -> frozenset[str]:
        return frozenset().union(*self.create_on.values(), *self.follow_ups.values())

    @property
    def processed(self) -> bool:
        """The engine turns this channel's events into Bitrix24 entities (every channel with a plan builder)."""
        return self.plan_builder is not None

    def word(self, lang: str, name: str) -> str:
        return (self.words.get(lang) or self.words["ru"])[name]


def _words(ru: dict, en: dict) -> dict:
    """title: a new entity's title prefix; source: SOURCE_DESCRIPTION; subject: an activity's subject;
    kind: the kind in a title; entity_title/activity_title: the default title templates."""
    return {"ru": ru, "en": en}


OFFLINE = Channel(
    kind="offline_message", key="offline", id_field="offline_message_id",
    create_on={"arrived": frozenset({"arrived"}), "processed": frozenset({"processed"})},
    default_create_on="arrived",
    notifications={"offline_message": "arrived"},
    suggested_notifications=("offline_message",),
    poll_streams=("offline_messages", "offline_processed"),
    enrichment="offline_report", plan_builder="communication", default_lead_source="WEBFORM",
    label=N_("Офлайн заявка"),
    words=_words(
        {"title": "Офлайн заявка", "source": "офлайн заявка", "subject": "Заявка UIS", "kind": "Офлайн заявка",
         "entity_title": "Офлайн заявка с сайта {site}: {visitor_name}", "activity_title": "Офлайн заявка UIS №{id}"},
        {"title": "Offline request", "source": "offline request", "subject": "UIS request", "kind": "Offline request",
         "entity_title": "Offline request from {site}: {visitor_name}", "activity_title": "UIS offline request #{id}"}),
)

CHATS = Channel(
    kind="chat", key="chats", id_field="chat_id",
    create_on={"start": frozenset({"started"}), "finish": frozenset({"finished", "lost"})},
    default_create_on="finish",
    notifications={"chat_finished": "finished", "lost_chat": "lost", "unanswered_chats": "unanswered"},
    suggested_notifications=("chat_finished", "lost_chat"),
    poll_streams=("chats", "chats_open"),
    enrichment="chat_report", plan_builder="communication", default_lead_source="OTHER",
    label=N_("Чат"),
    words=_words(
        {"title": "Чат", "source": "чат", "subject": "Чат UIS", "kind": "Чат",
         "entity_title": "Чат с сайта {site}: {visitor_name}", "activity_title": "Чат UIS №{id}"},
        {"title": "Chat", "source": "chat", "subject": "UIS chat", "kind": "Chat",
         "entity_title": "Chat from {site}: {visitor_name}", "activity_title": "UIS chat #{id}"}),
)

CALLS = Channel(
    kind="call", key="calls", id_field="call_session_id",
    create_on={"start": frozenset({"started"}), "finish": frozenset({"finished", "lost"})},
    default_create_on="finish",
    notifications={"in_call_session": "started", "out_call_session": "started", "call_session_finished": "finished",
                   "lost_call_session": "lost", "talk_record_file": "record_ready"},
    suggested_notifications=("in_call_session", "out_call_session", "call_session_finished", "lost_call_session",
                             "talk_record_file"),
    poll_streams=("calls",),
    enrichment="call_report", plan_builder="call", default_lead_source="CALL",
    label=N_("Звонок"),
    words=_words(
        {"title": "Звонок", "source": "звонок", "subject": "Звонок UIS", "kind": "Звонок",
         "entity_title": "Звонок {phone}", "activity_title": "Звонок UIS №{id}"},
        {"title": "Call", "source": "call", "subject": "UIS call", "kind": "Call",
         "entity_title": "Call {phone}", "activity_title": "UIS call #{id}"}),
    follow_ups={"start": frozenset({"finished", "lost", "record_ready"}), "finish": frozenset({"record_ready"})},
)

CHANNELS: tuple[Channel, ...] = (OFFLINE, CHATS, CALLS)
BY_KIND: dict[str, Channel] = {c.kind: c for c in CHANNELS}
BY_KEY: dict[str, Channel] = {c.key: c for c in CHANNELS}
# The settings tabs of channels the engine processes, in the order the settings window shows them.
SETTINGS_TABS: tuple[Channel, ...] = (CHATS, OFFLINE, CALLS)


def of_kind(kind: str | None) -> Channel | None:
    return BY_KIND.get(kind or "")


def of_key(key: str | None) -> Channel | None:
    return BY_KEY.get(key or "")
