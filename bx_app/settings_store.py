"""Read and write a credential's settings (ChannelSettings rows), parsed once into frozen values.

This is the contract between the settings window (forms) and the engine (planner): `load_settings`
returns a `bx_app.typed_settings.Settings` (attributes named as below; a stored value of the wrong shape
falls back to its default and is named in `Settings.problems`); its `as_dict()` is exactly this plain
shape (every key present), which the planner and the forms still read:

    main:                                  # the "Главная" tab
      active: bool                         # "Интеграция активна" (S3): the master switch
      default_responsible_id: int | None   # fallback Bitrix24 user; default: the portal's installer
      lead_source: {offline: str, chats: str, calls: str}   # SOURCE_ID per channel
      deal_category_id: int                # default pipeline (deal category), 0 = the default one
      deal_stage_id: str | None            # its stage ("NEW", "C1:NEW"); None = the pipeline's first

    chats: / offline:                      # the "Чаты и офлайн заявки" tab, one block per channel
      active: bool                         # the tab's own "Интеграция активна"
      channels:                            # C1 (chats only): which UIS chat channels to follow
        mode: "all" | "selected"
        ids: [int]                         # with "selected"
        include_new: bool                  # with "all": channels that appear later too
      filter: FilterTree | None            # G1: scenario filter; None = every event passes
      responsible_rules: [                 # C2/O1/G2: first match wins
        {name: str, filter: FilterTree, responsible: {type: "user", user_id: int} | {type: "employee"}}
      ]
      use_employee_match: bool             # responsible = Bitrix24 user matched to the UIS employee
                                           # who handled it (tried after the rules, before the default)
      default_responsible_id: int | None   # C3/O2; None = main.default_responsible_id
      contact_kinds: "first" | "repeat" | "both"          # C4/O3
      repeat_action: "create" | "attach"   # repeat contact with an open lead/deal: create anew, or
                                           # attach the activity/comment to it and keep its responsible
      entity: "lead_deal" | "activity" | "lead_deal_activity"   # C5/O4
      lead_deal: {type: "lead" | "deal", category_id: int | None, stage_id: str | None}
                                           # what "Lead/Deal" means; deal when the CRM is simple
      create_on: "start" | "finish"        # C6 (chats)
                 "arrived" | "processed"   # O5 (offline)
      pass_without_contacts: bool          # C7 (chats; offline requests always carry a form)
      notify: bool                         # C8/O6/G5: im.notify.system.add to the responsible
      transcript_to: "comments" | "timeline"   # C9/O7: where the transcript / request text goes
      title_template: {lead: str, deal: str, activity: str}   # G3, placeholders like {visitor_name}
      field_map: [                         # G4
        {uis_field: str, entity: "lead" | "deal" | "contact", b24_field: str,
         value_map: {str: str} | None}     # required for enumeration fields
      ]

    calls:                                 # the "Звонки" tab: the keys of chats/offline, off by default, plus
      directions: ["in", "out"]            # which calls pass: incoming / outgoing
      outcomes: ["answered", "missed"]     # answered / missed
      min_talk_seconds: int                # an answered call shorter than this is left out (0: none)
      create_on: "start" | "finish"        # register the call in Bitrix24 telephony when it starts or ends
      entity: "lead_deal" | "activity" | "lead_deal_activity"   # "activity": the telephony call's own activity

    FilterTree = {op: "and" | "or", items: [FilterTree | Condition]}   (nested ≥ 2 levels)
    Condition  = {field: str, operator: str, value: any}
    (fields, their types and operators: bx_app/integration/event_fields.py; evaluation:
    bx_app/integration/filters.py)

Stored form: one row per (credential, channel) with `active` and `options` (a JSON object holding the
channel's keys except "active"). A channel without a row gets its defaults: Main is off until an
administrator saves it; offline and chats are on (the Main flag alone gates a fresh install); calls off
(an account without telephony would otherwise fill the CRM).
Stored options are laid over the defaults key by key (nested dicts merged, lists replaced), so adding
an option with a default never needs a data migration. `save_channel` replaces a channel's options.
"""
from __future__ import annotations

import copy

from bx_app import channels
from bx_app.extensions import db
from bx_app.models import ChannelSettings, Credential
from bx_app.models.settings import CHANNELS
from bx_app.typed_settings import (
    ChannelOptions,
    InvalidSetting,
    MainSettings,
    Settings,
    parse_settings,
    shape_problems,
)

DEFAULT_LEAD_SOURCE = {c.key: c.default_lead_source for c in channels.CHANNELS}


def _titles(described: channels.Channel, lang: str) -> dict:
    entity = described.word(lang, "entity_title")
    return {"lead": entity, "deal": entity, "activity": described.word(lang, "activity_title")}


def _channel_defaults(channel: str) -> dict:
    described = channels.BY_KEY[channel]
    chats = described is channels.CHATS
    defaults = {
        "active": True,
        "filter": None,
        "responsible_rules": [],
        "use_employee_match": True,
        "default_responsible_id": None,
        "contact_kinds": "both",
        "repeat_action": "create",
        "entity": "lead_deal",
        "lead_deal": {"type": "lead", "category_id": None, "stage_id": None},
        "create_on": described.default_create_on,
        "pass_without_contacts": True,
        "notify": True,
        "transcript_to": "comments",
        "title_template": _titles(described, "ru"),
        "field_map": [],
    }
    if chats:
        defaults["channels"] = {"mode": "all", "ids": [], "include_new": True}
    if described is channels.CALLS:
        defaults.update(active=False, directions=["in", "out"], outcomes=["answered", "missed"], min_talk_seconds=0)
    return defaults


DEFAULTS: dict[str, dict] = {
    "main": {"active": False, "default_responsible_id": None, "lead_source": dict(DEFAULT_LEAD_SOURCE),
             "deal_category_id": 0, "deal_stage_id": None},
    "offline": _channel_defaults("offline"),
    "chats": _channel_defaults("chats"),
    "calls": _channel_defaults("calls"),
}


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# Default titles for portals that do not speak Russian (the templates are data, not UI strings).
ENGLISH_TITLES = {c.key: _titles(c, "en") for c in channels.SETTINGS_TABS}


def load_settings(credential_id: int) -> Settings:
    """All channels of the credential, defaults filled in, parsed once (see the module docstring)."""
    defaults = copy.deepcopy(DEFAULTS)
    credential = db.session.get(Credential, credential_id)
    if credential is not None and credential.portal is not None:
        defaults["main"]["default_responsible_id"] = credential.portal.installer_user_id
        if (credential.portal.lang or "ru") not in ("ru", "ua", "by", "kz"):
            for channel, titles in ENGLISH_TITLES.items():
                defaults[channel]["title_template"] = dict(titles)
    rows = {row.channel: row for row in ChannelSettings.query.filter_by(credential_id=credential_id)}
    settings = {}
    for channel in CHANNELS:
        row = rows.get(channel)
        channel_settings = defaults.get(channel, {"active": False})
        if row is not None:
            options = {k: v for k, v in (row.options or {}).items() if k != "active"} \
                if isinstance(row.options, dict) else {}
            channel_settings = _merge(channel_settings, options)
            channel_settings["active"] = bool(row.active)
        if channel == "main" and channel_settings.get("default_responsible_id") is None:
            channel_settings["default_responsible_id"] = defaults["main"]["default_responsible_id"]
        settings[channel] = channel_settings
    return parse_settings(settings, defaults)


def load_channel(credential_id: int, channel: str) -> MainSettings | ChannelOptions:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return load_settings(credential_id).channel(channel)


def save_channel(credential_id: int, channel: str, active: bool, options: dict) -> ChannelSettings:
    """Store one tab (its flag and all its options) in one commit; options replace the stored ones."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not isinstance(options, dict):
        raise TypeError("options must be a dict")
    options = {k: v for k, v in options.items() if k != "active"}
    # Parsed as load_settings will parse it: a value of the wrong shape is refused here, never stored to
    # be replaced by its default at every load.
    problems = shape_problems(channel, _merge(DEFAULTS[channel], options), DEFAULTS[channel])
    if problems:
        raise InvalidSetting("; ".join(problems))
    row = ChannelSettings.query.filter_by(credential_id=credential_id, channel=channel).one_or_none()
    if row is None:
        row = ChannelSettings(credential_id=credential_id, channel=channel)
        db.session.add(row)
    row.active = bool(active)
    row.options = copy.deepcopy(options)
    db.session.commit()
    return row
