"""A credential's settings as frozen values, parsed once from the stored, defaults-merged data.

The store (bx_app/settings_store.py) builds them; a stored value of the wrong shape falls back to its
default and is named in `Settings.problems` (and logged), so a damaged row never stops the engine.
`as_dict()` gives the documented plain shape back for the parts that still read dicts (the planner).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: Any

    def as_dict(self) -> dict:
        return {"field": self.field, "operator": self.operator, "value": self.value}


@dataclass(frozen=True)
class FilterTree:
    op: str  # "and" | "or"
    items: tuple[FilterTree | Condition, ...]

    def as_dict(self) -> dict:
        return {"op": self.op, "items": [item.as_dict() for item in self.items]}


@dataclass(frozen=True)
class Responsible:
    type: str  # "user" | "employee"
    user_id: int | None = None

    def as_dict(self) -> dict:
        return {"type": self.type} if self.user_id is None else {"type": self.type, "user_id": self.user_id}


@dataclass(frozen=True)
class ResponsibleRule:
    name: str
    filter: FilterTree | None
    responsible: Responsible

    def as_dict(self) -> dict:
        return {"name": self.name, "filter": self.filter.as_dict() if self.filter else None,
                "responsible": self.responsible.as_dict()}


@dataclass(frozen=True)
class LeadDeal:
    type: str  # "lead" | "deal"
    category_id: int | None
    stage_id: str | None

    def as_dict(self) -> dict:
        return {"type": self.type, "category_id": self.category_id, "stage_id": self.stage_id}


@dataclass(frozen=True)
class TitleTemplates:
    lead: str
    deal: str
    activity: str

    def as_dict(self) -> dict:
        return {"lead": self.lead, "deal": self.deal, "activity": self.activity}


@dataclass(frozen=True)
class FieldMapping:
    uis_field: str
    entity: str  # "lead" | "deal" | "contact"
    b24_field: str
    value_map: dict[str, str] | None

    def as_dict(self) -> dict:
        return {"uis_field": self.uis_field, "entity": self.entity, "b24_field": self.b24_field,
                "value_map": dict(self.value_map) if self.value_map is not None else None}


@dataclass(frozen=True)
class ChatChannels:
    mode: str  # "all" | "selected"
    ids: tuple[int, ...]
    include_new: bool

    def as_dict(self) -> dict:
        return {"mode": self.mode, "ids": list(self.ids), "include_new": self.include_new}


@dataclass(frozen=True)
class ChannelOptions:
    """One tab of offline requests, chats or calls (the keys in settings_store's docstring)."""
    active: bool
    filter: FilterTree | None
    responsible_rules: tuple[ResponsibleRule, ...]
    use_employee_match: bool
    default_responsible_id: int | None
    contact_kinds: str
    repeat_action: str
    entity: str
    lead_deal: LeadDeal
    create_on: str
    pass_without_contacts: bool
    notify: bool
    transcript_to: str
    title_template: TitleTemplates
    field_map: tuple[FieldMapping, ...]
    channels: ChatChannels | None = None  # chats only
    directions: tuple[str, ...] | None = None  # calls only, with outcomes and min_talk_seconds
    outcomes: tuple[str, ...] | None = None
    min_talk_seconds: int | None = None

    def as_dict(self) -> dict:
        out = {
            "active": self.active, "filter": self.filter.as_dict() if self.filter else None,
            "responsible_rules": [r.as_dict() for r in self.responsible_rules],
            "use_employee_match": self.use_employee_match, "default_responsible_id": self.default_responsible_id,
            "contact_kinds": self.contact_kinds, "repeat_action": self.repeat_action, "entity": self.entity,
            "lead_deal": self.lead_deal.as_dict(), "create_on": self.create_on,
            "pass_without_contacts": self.pass_without_contacts, "notify": self.notify,
            "transcript_to": self.transcript_to, "title_template": self.title_template.as_dict(),
            "field_map": [m.as_dict() for m in self.field_map],
        }
        if self.channels is not None:
            out["channels"] = self.channels.as_dict()
        if self.directions is not None:
            out.update(directions=list(self.directions), outcomes=list(self.outcomes or ()),
                       min_talk_seconds=self.min_talk_seconds)
        return out


@dataclass(frozen=True)
class MainSettings:
    active: bool
    default_responsible_id: int | None
    lead_source: dict[str, str]
    deal_category_id: int
    deal_stage_id: str | None

    def as_dict(self) -> dict:
        return {"active": self.active, "default_responsible_id": self.default_responsible_id,
                "lead_source": dict(self.lead_source), "deal_category_id": self.deal_category_id,
                "deal_stage_id": self.deal_stage_id}


@dataclass(frozen=True)
class Settings:
    main: MainSettings
    offline: ChannelOptions
    chats: ChannelOptions
    calls: ChannelOptions
    problems: tuple[str, ...] = field(default=(), compare=False)  # stored values replaced by their defaults

    def channel(self, key: str) -> ChannelOptions | MainSettings:
        if key not in ("main", "offline", "chats", "calls"):
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict:
        return {"main": self.main.as_dict(), "offline": self.offline.as_dict(), "chats": self.chats.as_dict(),
                "calls": self.calls.as_dict()}


class InvalidSetting(ValueError):
    """A stored value that is not of its documented shape."""


def _int(value, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSetting(f"an integer expected, got {value!r}")
    try:
        return int(value)
    except ValueError as error:
        raise InvalidSetting(f"an integer expected, got {value!r}") from error


def _text(value, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidSetting(f"text expected, got {value!r}")
    return value


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetting(f"true/false expected, got {value!r}")
    return value


def _mapping(value) -> dict:
    if not isinstance(value, dict):
        raise InvalidSetting(f"an object expected, got {value!r}")
    return value


def _sequence(value) -> list:
    if not isinstance(value, list | tuple):
        raise InvalidSetting(f"a list expected, got {value!r}")
    return list(value)


def parse_tree(value) -> FilterTree | None:
    if value is None:
        return None
    node = _mapping(value)
    items = []
    for item in _sequence(node.get("items", [])):
        item = _mapping(item)
        if "items" in item or "op" in item:
            items.append(parse_tree(item))
        else:
            items.append(Condition(_text(item.get("field")), _text(item.get("operator")), item.get("value")))
    return FilterTree(_text(node.get("op", "and")), tuple(items))


def _rule(value) -> ResponsibleRule:
    rule = _mapping(value)
    who = _mapping(rule.get("responsible") or {})
    return ResponsibleRule(name=_text(rule.get("name", "")), filter=parse_tree(rule.get("filter")),
                           responsible=Responsible(_text(who.get("type")), _int(who.get("user_id"), optional=True)))


def _field_mapping(value) -> FieldMapping:
    row = _mapping(value)
    value_map = row.get("value_map")
    if value_map is not None:
        value_map = {str(k): _text(v) for k, v in _mapping(value_map).items()}
    return FieldMapping(_text(row.get("uis_field")), _text(row.get("entity")), _text(row.get("b24_field")), value_map)


def _strings(value) -> tuple[str, ...]:
    return tuple(_text(v) for v in _sequence(value))


_CHANNEL_FIELDS = {
    "active": _flag,
    "filter": parse_tree,
    "responsible_rules": lambda v: tuple(_rule(r) for r in _sequence(v)),
    "use_employee_match": _flag,
    "default_responsible_id": lambda v: _int(v, optional=True),
    "contact_kinds": _text,
    "repeat_action": _text,
    "entity": _text,
    "lead_deal": lambda v: LeadDeal(_text(_mapping(v).get("type")), _int(v.get("category_id"), optional=True),
                                    _text(v.get("stage_id"), optional=True)),
    "create_on": _text,
    "pass_without_contacts": _flag,
    "notify": _flag,
    "transcript_to": _text,
    "title_template": lambda v: TitleTemplates(_text(_mapping(v).get("lead")), _text(v.get("deal")),
                                               _text(v.get("activity"))),
    "field_map": lambda v: tuple(_field_mapping(m) for m in _sequence(v)),
    "channels": lambda v: ChatChannels(_text(_mapping(v).get("mode")), tuple(_int(i) for i in _sequence(v.get("ids"))),
                                       _flag(v.get("include_new"))),
    "directions": _strings,
    "outcomes": _strings,
    "min_talk_seconds": _int,
}

_MAIN_FIELDS = {
    "active": _flag,
    "default_responsible_id": lambda v: _int(v, optional=True),
    "lead_source": lambda v: {str(k): _text(s) for k, s in _mapping(v).items()},
    "deal_category_id": _int,
    "deal_stage_id": lambda v: _text(v, optional=True),
}


def _parsed(key: str, data: dict, defaults: dict, fields: dict, problems: list[str]) -> dict:
    """Each documented key of `data` parsed; a value of the wrong shape replaced by the parsed default."""
    out = {}
    for name, parse in fields.items():
        if name not in defaults:
            continue
        try:
            out[name] = parse(data.get(name, defaults[name]))
        except (InvalidSetting, AttributeError) as error:
            problems.append(f"{key}.{name}: {error}; the default is used")
            out[name] = parse(defaults[name])
    return out


def parse_settings(data: dict, defaults: dict) -> Settings:
    """`data`: the stored options laid over `defaults` (settings_store's shape); both per settings key."""
    problems: list[str] = []
    main = MainSettings(**_parsed("main", data.get("main") or {}, defaults["main"], _MAIN_FIELDS, problems))
    tabs = {key: ChannelOptions(**_parsed(key, data.get(key) or {}, defaults[key], _CHANNEL_FIELDS, problems))
            for key in ("offline", "chats", "calls")}
    for problem in problems:
        log.warning("stored settings: %s", problem)
    return Settings(main=main, problems=tuple(problems), **tabs)


def shape_problems(key: str, data: dict, defaults: dict) -> list[str]:
    """What in one tab's options (the stored shape, laid over `defaults`) is not a setting or not of its
    documented shape; [] when all of it parses. The store refuses to save such options."""
    problems: list[str] = []
    fields = _MAIN_FIELDS if key == "main" else _CHANNEL_FIELDS
    _parsed(key, data, defaults, fields, problems)
    problems += [f"{key}.{name}: not a setting of this tab" for name in sorted(set(data) - set(defaults))]
    return problems


def parse_channel(key: str, data: dict, defaults: dict) -> ChannelOptions:
    """One tab's options (a draft in the settings window) over `defaults`, parsed as the store does."""
    problems: list[str] = []
    options = ChannelOptions(**_parsed(key, data, defaults, _CHANNEL_FIELDS, problems))
    for problem in problems:
        log.warning("draft settings: %s", problem)
    return options
