"""Read and write a credential's settings (ChannelSettings rows) as plain data with defaults filled in.

Schema returned by `load_settings(credential_id)` (every key always present):

    {
      "main": {
        "active": bool,                      # "Интеграция активна" of the Main tab: the master switch (S3)
        "default_responsible_id": int|None,  # Bitrix24 user id; default: the portal's installer_user_id
        "lead_source": {                     # SOURCE_ID of leads/deals created from ...
          "offline": "WEBFORM",              #   ... offline requests (web forms)
          "chats": "OTHER",                  #   ... chats
        },
      },
      "offline": {"active": bool, ...},      # the "Чаты и офлайн заявки" tab, offline requests part
      "chats": {"active": bool, ...},        # the same tab, chats part
      "calls": {"active": bool, ...},
    }

Stored form: one row per (credential, channel) with `active` and `options` (a JSON object holding the
channel's keys except "active"). A channel without a row gets its defaults: Main is off until an
administrator saves it; offline and chats are on (the Main flag alone gates a fresh install); calls off.
Stored options are laid over the defaults key by key (nested dicts merged), so adding an option with a
default never needs a data migration. `save_channel` replaces a channel's options as a whole.
"""
from __future__ import annotations

import copy

from bx_app.extensions import db
from bx_app.models import ChannelSettings, Credential
from bx_app.models.settings import CHANNELS

DEFAULT_LEAD_SOURCE = {"offline": "WEBFORM", "chats": "OTHER"}

DEFAULTS: dict[str, dict] = {
    "main": {"active": False, "default_responsible_id": None, "lead_source": dict(DEFAULT_LEAD_SOURCE)},
    "offline": {"active": True},
    "chats": {"active": True},
    "calls": {"active": False},
}


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_settings(credential_id: int) -> dict:
    """All channels of the credential as plain data, defaults filled in (see the module docstring)."""
    defaults = copy.deepcopy(DEFAULTS)
    credential = db.session.get(Credential, credential_id)
    if credential is not None and credential.portal is not None:
        defaults["main"]["default_responsible_id"] = credential.portal.installer_user_id
    rows = {row.channel: row for row in ChannelSettings.query.filter_by(credential_id=credential_id)}
    settings = {}
    for channel in CHANNELS:
        row = rows.get(channel)
        channel_settings = defaults.get(channel, {"active": False})
        if row is not None:
            options = {k: v for k, v in (row.options or {}).items() if k != "active"}
            channel_settings = _merge(channel_settings, options)
            channel_settings["active"] = bool(row.active)
        if channel == "main" and channel_settings.get("default_responsible_id") is None:
            channel_settings["default_responsible_id"] = defaults["main"]["default_responsible_id"]
        settings[channel] = channel_settings
    return settings


def load_channel(credential_id: int, channel: str) -> dict:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return load_settings(credential_id)[channel]


def save_channel(credential_id: int, channel: str, active: bool, options: dict) -> ChannelSettings:
    """Store one tab (its flag and all its options) in one commit; options replace the stored ones."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not isinstance(options, dict):
        raise TypeError("options must be a dict")
    options = {k: v for k, v in options.items() if k != "active"}
    row = ChannelSettings.query.filter_by(credential_id=credential_id, channel=channel).one_or_none()
    if row is None:
        row = ChannelSettings(credential_id=credential_id, channel=channel)
        db.session.add(row)
    row.active = bool(active)
    row.options = copy.deepcopy(options)
    db.session.commit()
    return row
