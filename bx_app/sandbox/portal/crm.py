"""A portal's CRM: leads, deals, contacts, activities, timeline comments, notifications, and their REST methods."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import crm_catalog
from .crm_catalog import MULTIFIELDS
from .rest_error import RestError

PAGE_SIZE = 50
PORTAL_TZ = timezone(timedelta(hours=3))
OWNER_TYPES = {1: "lead", 2: "deal", 3: "contact", 4: "company"}
ENTITY_PLURAL = {"lead": "leads", "deal": "deals", "contact": "contacts"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FILTER_PREFIX = re.compile(r"^(>=|<=|!=|!@|=%|%=|!%|>|<|@|%|=|!)?(.+)$")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, PORTAL_TZ).isoformat(timespec="seconds")


@dataclass
class ListReply:
    """A list method's answer: the page plus `total` and (only when more remain) `next`."""

    result: list | dict
    total: int | None
    next: int | None = None


def paged(records: list, start_value, shape=lambda r: r) -> ListReply:
    """A list method's page (§3): 50 from `start`; `next` only when more remain; `start=-1` skips counting
    (no `total`, no `next`: the caller pages by `>ID`)."""
    start = as_int(start_value)
    if start == -1:
        return ListReply([shape(r) for r in records[:PAGE_SIZE]], None)
    start = max(start or 0, 0)
    page = records[start:start + PAGE_SIZE]
    more = start + PAGE_SIZE < len(records)
    return ListReply([shape(r) for r in page], len(records), start + PAGE_SIZE if more else None)


def param(params: dict, name: str, default=None):
    """Bitrix24 accepts `fields` and `FIELDS`, `id` and `ID`."""
    if name in params:
        return params[name]
    for key, value in params.items():
        if key.lower() == name.lower():
            return value
    return default


def as_int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def as_float(value) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def digits_of_phone(value: str) -> str:
    """The digits a phone is compared by, its extension dropped (b24-rest-docs#72). Whether Bitrix24 also
    takes 8 916... and +7 916... for one number is unverified (§6 "?"), so the sandbox does not: a client
    that needs both must ask for both."""
    text = re.split(r"(?i)(?:ext|доб|,|;|#)", str(value))[0]
    return re.sub(r"\D", "", text)


def _scalar(value):
    """What a scalar reads back as from a classic method: a string (numbers included) or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class CrmStore:
    def __init__(self) -> None:
        self.mode = 1
        self.required_custom: dict[str, set[str]] = {"lead": set(), "deal": set()}
        self.leads: dict[int, dict] = {}
        self.deals: dict[int, dict] = {}
        self.contacts: dict[int, dict] = {}
        self.activities: dict[int, dict] = {}
        self.comments: dict[int, dict] = {}
        self.notifications: dict[int, dict] = {}
        self.notifications_sent: dict[str, int] = {}  # every im.notify add per TAG (a repeat replaces the notice)
        # The exact moment (epoch seconds) each lead, deal and contact was added: DATE_CREATE has whole seconds
        # only, and benchmarks measure push-to-entity latency in milliseconds. Sandbox-only, never served by REST.
        self.created_at: dict[str, dict[str, float]] = {"lead": {}, "deal": {}, "contact": {}}
        self.statuses = crm_catalog.seed_statuses()
        self._ids = {"lead": 1000, "deal": 2000, "contact": 3000, "activity": 18000, "comment": 8000,
                     "notification": 55000, "multifield": 5000, "status": 240}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def table(self, entity: str) -> dict[int, dict]:
        return {"lead": self.leads, "deal": self.deals, "contact": self.contacts}[entity]

    # --- writing ------------------------------------------------------------------------------
    def _multifield(self, code: str, raw) -> list[dict]:
        if isinstance(raw, dict):
            raw = list(raw.values())
        if not isinstance(raw, list):
            return []
        entries = []
        for item in raw:
            if not isinstance(item, dict):
                continue
            value = str(param(item, "VALUE", "") or "").strip()
            if not value:
                continue
            entries.append({"ID": str(self._next("multifield")), "VALUE_TYPE": str(param(item, "VALUE_TYPE") or "WORK"),
                            "VALUE": value, "TYPE_ID": code})
        return entries

    def _apply_fields(self, entity: str, record: dict, fields: dict, *, adding: bool) -> None:
        known = crm_catalog.fields_of(entity, set())
        for key, value in fields.items():
            code = key.upper()
            if code in MULTIFIELDS:
                entries = self._multifield(code, value)
                if code == "EMAIL" and entity == "contact":
                    for entry in entries:
                        if not _EMAIL.match(entry["VALUE"]):
                            raise RestError(400, "ERROR_CORE", "The field `Work e-mail` contains an invalid address")
                record[code] = (record.get(code) or []) + entries if not adding else entries
                continue
            if code not in known or code == "ID":
                continue  # Bitrix24 silently ignores unknown fields
            meta = known[code]
            if meta["isReadOnly"] and code not in ("LEAD_ID",):
                continue
            if meta["isMultiple"]:
                record[code] = [_scalar(v) for v in (value if isinstance(value, list) else [value])]
            elif isinstance(value, list | dict):
                record[code] = value
            elif code in ("OPPORTUNITY", "TAX_VALUE") and as_float(value) is not None:
                record[code] = f"{as_float(value):.2f}"
            else:
                record[code] = _scalar(value)
        for code in MULTIFIELDS:
            flag = {"PHONE": "HAS_PHONE", "EMAIL": "HAS_EMAIL", "IM": "HAS_IMOL"}.get(code)
            if flag and entity != "deal":
                record[flag] = "Y" if record.get(code) else "N"

    def _check_required(self, entity: str, fields: dict) -> None:
        for code in sorted(self.required_custom.get(entity, ())):
            value = fields.get(code)
            if value in (None, "", [], {}):
                meta = crm_catalog.fields_of(entity, set()).get(code, {})
                label = meta.get("formLabel") or code
                raise RestError.crm(f"The required field '{label}' is missing.<br />")

    def _fields_param(self, params: dict) -> dict:
        fields = param(params, "fields")
        if fields is None or fields == "":
            fields = {}
        if isinstance(fields, list) and not fields:
            fields = {}
        if not isinstance(fields, dict):
            raise RestError.crm("Parameter 'fields' must be array.")
        return {str(k).upper() if not str(k).upper().startswith("UF_") else str(k).upper(): v
                for k, v in fields.items()}

    def add(self, entity: str, params: dict, user_id: int, now: float) -> int:
        fields = self._fields_param(params)
        self._check_required(entity, fields)
        defaults = {"lead": crm_catalog.LEAD_DEFAULTS, "deal": crm_catalog.DEAL_DEFAULTS,
                    "contact": crm_catalog.CONTACT_DEFAULTS}[entity]
        new_id = self._next(entity)
        stamp = iso(now)
        record = dict(defaults)
        record.update({"ID": str(new_id), "ASSIGNED_BY_ID": str(user_id), "CREATED_BY_ID": str(user_id),
                       "MODIFY_BY_ID": str(user_id), "DATE_CREATE": stamp, "DATE_MODIFY": stamp})
        if entity in ("lead", "deal"):
            record.update({"MOVED_BY_ID": str(user_id), "MOVED_TIME": stamp, "LAST_ACTIVITY_BY": str(user_id),
                           "LAST_ACTIVITY_TIME": stamp})
        self._apply_fields(entity, record, fields, adding=True)
        if entity == "lead" and (record.get("CONTACT_ID") or record.get("COMPANY_ID")):
            record["IS_RETURN_CUSTOMER"] = "Y"
        if entity == "deal":
            self._settle_deal_stage(record)
            if record.get("CONTACT_ID") and not record.get("CONTACT_IDS"):
                record["CONTACT_IDS"] = [record["CONTACT_ID"]]
        self.table(entity)[new_id] = record
        self.created_at[entity][str(new_id)] = now
        if entity == "lead" and self.mode == 2:
            self._convert_lead(record, user_id, now)
        return new_id

    def _settle_deal_stage(self, record: dict) -> None:
        category = as_int(record.get("CATEGORY_ID")) or 0
        if category not in crm_catalog.DEAL_STAGES:
            raise RestError.crm("Category not found.")
        record["CATEGORY_ID"] = str(category)
        codes = [s[0] for s in crm_catalog.DEAL_STAGES[category]]
        stage = record.get("STAGE_ID")
        if not stage or stage not in codes:
            stage = codes[0]
        record["STAGE_ID"] = stage
        semantics = next(s[2] for s in crm_catalog.DEAL_STAGES[category] if s[0] == stage)
        record["STAGE_SEMANTIC_ID"] = {"process": "P", "success": "S", "failure": "F"}[semantics]
        record["CLOSED"] = "N" if semantics == "process" else "Y"

    def _convert_lead(self, lead: dict, user_id: int, now: float) -> None:
        """Simple CRM: the lead is converted at once into a contact (when there is a person) and a deal."""
        lead["STATUS_ID"] = "CONVERTED"
        lead["STATUS_SEMANTIC_ID"] = "S"
        lead["DATE_CLOSED"] = iso(now)
        contact_id = None
        if lead.get("NAME") or lead.get("LAST_NAME") or lead.get("PHONE") or lead.get("EMAIL"):
            contact_fields = {k: lead.get(k) for k in ("NAME", "LAST_NAME", "SECOND_NAME", "SOURCE_ID",
                                                       "SOURCE_DESCRIPTION", "ASSIGNED_BY_ID") if lead.get(k)}
            for code in MULTIFIELDS:
                if lead.get(code):
                    contact_fields[code] = [{"VALUE": e["VALUE"], "VALUE_TYPE": e["VALUE_TYPE"]} for e in lead[code]]
            contact_id = self.add("contact", {"fields": contact_fields}, user_id, now)
            self.contacts[contact_id]["LEAD_ID"] = lead["ID"]
            lead["CONTACT_ID"] = str(contact_id)
        deal_fields = {k: lead.get(k) for k in ("TITLE", "ASSIGNED_BY_ID", "SOURCE_ID", "SOURCE_DESCRIPTION",
                                                 "OPPORTUNITY", "CURRENCY_ID", "COMMENTS") if lead.get(k)}
        if contact_id:
            deal_fields["CONTACT_ID"] = contact_id
        mode, self.mode = self.mode, 1
        try:
            deal_id = self.add("deal", {"fields": deal_fields}, user_id, now)
        finally:
            self.mode = mode
        self.deals[deal_id]["LEAD_ID"] = lead["ID"]

    def update(self, entity: str, params: dict, user_id: int, now: float) -> bool:
        record = self._existing(entity, params)
        fields = self._fields_param(params)
        self._apply_fields(entity, record, fields, adding=False)
        if entity == "deal" and ("STAGE_ID" in fields or "CATEGORY_ID" in fields):
            self._settle_deal_stage(record)
        record["MODIFY_BY_ID"] = str(user_id)
        record["DATE_MODIFY"] = iso(now)
        return True

    # --- reading ------------------------------------------------------------------------------
    def _existing(self, entity: str, params: dict) -> dict:
        entity_id = as_int(param(params, "id"))
        if entity_id is None or entity_id <= 0:
            raise RestError.crm("ID is not defined or invalid.")
        record = self.table(entity).get(entity_id)
        if record is None:
            raise RestError.crm("Not found")
        return record

    def get(self, entity: str, params: dict) -> dict:
        record = self._existing(entity, params)
        meta = crm_catalog.fields_of(entity, set())
        out = {code: record.get(code) for code in meta if code not in MULTIFIELDS}
        for code in MULTIFIELDS:
            if record.get(code):
                out[code] = record[code]
        return out

    def list(self, entity: str, params: dict) -> ListReply:
        wanted = matcher(param(params, "filter") or {})
        records = [r for r in self.table(entity).values() if wanted(r)]
        order = param(params, "order") or {}
        if isinstance(order, dict) and order:
            for key, direction in reversed(list(order.items())):
                records.sort(key=lambda r, k=key.upper(): _sort_key(r.get(k)),
                             reverse=str(direction).upper() == "DESC")
        else:
            records.sort(key=lambda r: int(r["ID"]))
        select = param(params, "select") or []
        if isinstance(select, dict):
            select = list(select.values())
        return paged(records, param(params, "start", 0), lambda r: self._selected(entity, r, select))

    def _selected(self, entity: str, record: dict, select: list) -> dict:
        meta = crm_catalog.fields_of(entity, set())
        system = [c for c in meta if c not in MULTIFIELDS and not c.startswith("UF_")]
        custom = [c for c in meta if c.startswith("UF_")]
        wanted: list[str] = []
        names = [str(s).upper() for s in select if s]
        if not names:
            wanted = system
        for name in names:
            if name == "*":
                wanted += system
            elif name == "UF_*":
                wanted += custom
            else:
                wanted.append(name)
        out: dict = {}
        for code in wanted:
            if code in out:
                continue
            if code in MULTIFIELDS:
                if record.get(code):
                    out[code] = record[code]
            elif code in meta or code in record:
                out[code] = record.get(code)
        return out

    # --- duplicates ---------------------------------------------------------------------------
    def find_by_comm(self, params: dict) -> dict | list:
        comm_type = str(param(params, "type") or "").upper()
        values = param(params, "values")
        if not comm_type:
            raise RestError(400, "Communication type is not defined", "Parameter 'type' is required.")
        if comm_type not in ("PHONE", "EMAIL"):
            raise RestError(400, f"Communication type '{comm_type}' is not supported in current context", "")
        if isinstance(values, str):
            values = [values]
        if isinstance(values, dict):
            values = list(values.values())
        if not values:
            raise RestError(400, "Communication values is not defined", "Parameter 'values' is required.")
        values = [str(v) for v in values][:20]
        if comm_type == "PHONE":
            wanted = {digits_of_phone(v) for v in values if digits_of_phone(v)}
            normalise = digits_of_phone
        else:
            wanted = {v.strip().lower() for v in values if v.strip()}
            normalise = lambda v: str(v).strip().lower()  # noqa: E731
        entity_type = str(param(params, "entity_type") or "").upper()
        found: dict[str, list[int]] = {}
        for entity in ("lead", "contact"):
            if entity_type and entity_type != entity.upper():
                continue
            ids = [int(r["ID"]) for r in self.table(entity).values()
                   if any(normalise(e["VALUE"]) in wanted for e in r.get(comm_type) or [])]
            if ids:
                found[entity.upper()] = sorted(ids)
        for kind, ids in found.items():
            if len(ids) >= 20:
                return {kind: ids}
        return found or []

    # --- activities, comments, notifications ------------------------------------------------------
    def owner_exists(self, owner_type: int | None, owner_id: int | None) -> bool:
        entity = OWNER_TYPES.get(owner_type or 0)
        return entity in ("lead", "deal", "contact") and owner_id in self.table(entity)

    def activity_add(self, params: dict, user_id: int, now: float) -> int:
        fields = self._fields_param(params)
        if not str(fields.get("SUBJECT") or "").strip():
            raise RestError.crm("The field SUBJECT is not defined or empty.")
        communications = fields.get("COMMUNICATIONS")
        if isinstance(communications, dict):
            communications = list(communications.values())
        if not isinstance(communications, list) or not communications or not all(
                isinstance(c, dict) and str(param(c, "VALUE") or "").strip() for c in communications):
            raise RestError.crm("The field COMMUNICATIONS is not defined or invalid.")
        owner_type, owner_id = as_int(fields.get("OWNER_TYPE_ID")), as_int(fields.get("OWNER_ID"))
        if not self.owner_exists(owner_type, owner_id):
            raise RestError.crm(
                "Could not build binding. Please ensure that owner info and communications are defined correctly.")
        new_id = self._next("activity")
        record = {"ID": str(new_id), "CREATED": iso(now), "AUTHOR_ID": str(user_id),
                  "RESPONSIBLE_ID": str(fields.get("RESPONSIBLE_ID") or user_id)}
        for key, value in fields.items():
            if key in ("ID", "DEADLINE", "CREATED", "AUTHOR_ID", "RESPONSIBLE_ID"):
                continue
            record[key] = value if isinstance(value, list | dict) else _scalar(value)
        record["COMPLETED"] = record.get("COMPLETED") or "N"
        record["DEADLINE"] = record.get("START_TIME") or record.get("END_TIME") or ""
        self.activities[new_id] = record
        return new_id

    def activity_list(self, params: dict) -> ListReply:
        wanted = matcher(param(params, "filter") or {})
        records = sorted((r for r in self.activities.values() if wanted(r)),
                         key=lambda r: int(r["ID"]))
        return paged(records, param(params, "start", 0))

    def timeline_comment_list(self, params: dict) -> ListReply:
        where = param(params, "filter") or {}
        if not isinstance(where, dict) or not where.get("ENTITY_ID") or not where.get("ENTITY_TYPE"):
            raise RestError(400, "INVALID_ARG_VALUE", "ENTITY_ID and ENTITY_TYPE are required in the filter")
        entity_type, entity_id = str(where["ENTITY_TYPE"]).lower(), str(as_int(where["ENTITY_ID"]))
        records = sorted((r for r in self.comments.values()
                          if r["ENTITY_TYPE"] == entity_type and r["ENTITY_ID"] == entity_id), key=lambda r: int(r["ID"]))
        order = param(params, "order") or {}
        if isinstance(order, dict) and str(order.get("ID", "")).upper() == "DESC":
            records.reverse()
        return paged(records, param(params, "start", 0))

    def timeline_comment_add(self, params: dict, user_id: int, now: float) -> int:
        fields = params.get("fields")  # lowercase only since crm 23.100.0
        if not isinstance(fields, dict):
            raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array.")
        entity_type = str(fields.get("ENTITY_TYPE") or "").lower()
        entity_id = as_int(fields.get("ENTITY_ID"))
        owner_type = {v: k for k, v in OWNER_TYPES.items()}.get(entity_type)
        if not self.owner_exists(owner_type, entity_id):
            raise RestError(400, "OWNER_NOT_FOUND", "Owner of the entity not found")
        comment = str(fields.get("COMMENT") or "")
        if not comment.strip():
            raise RestError(400, "INVALID_ARG_VALUE", "Empty comment")
        new_id = self._next("comment")
        self.comments[new_id] = {"ID": str(new_id), "ENTITY_ID": str(entity_id), "ENTITY_TYPE": entity_type,
                                 "COMMENT": comment, "AUTHOR_ID": str(fields.get("AUTHOR_ID") or user_id),
                                 "CREATED": iso(now)}
        return new_id

    def notify(self, params: dict, user_id: int, now: float, users: dict[int, dict], personal: bool) -> int | bool:
        target = as_int(param(params, "USER_ID"))
        if not target:
            raise RestError(400, "USER_ID_EMPTY", "User ID can't be empty")
        message = str(param(params, "MESSAGE") or "")
        if not message.strip():
            raise RestError(400, "MESSAGE_EMPTY", "Message can't be empty")
        attach = param(params, "ATTACH")
        if attach is not None and len(str(attach)) > 60000:
            raise RestError(400, "ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach")
        if target not in users or not users[target]["ACTIVE"]:
            return False
        tag = str(param(params, "TAG") or "")
        self.notifications_sent[tag] = self.notifications_sent.get(tag, 0) + 1
        if tag:
            for old in [k for k, n in self.notifications.items() if n["TAG"] == tag]:
                del self.notifications[old]
        new_id = self._next("notification")
        self.notifications[new_id] = {
            "ID": new_id, "USER_ID": target, "MESSAGE": message, "MESSAGE_OUT": str(param(params, "MESSAGE_OUT") or ""),
            "TAG": tag, "SUB_TAG": str(param(params, "SUB_TAG") or ""), "FROM_USER_ID": user_id if personal else 0,
            "ATTACH": attach, "DATE": iso(now),
        }
        return new_id

    # --- reference data -----------------------------------------------------------------------
    def status_list(self, params: dict) -> list[dict]:
        rows = [r for r in self.statuses if matches(r, param(params, "filter") or {})]
        order = param(params, "order") or {"SORT": "ASC"}
        if isinstance(order, dict):
            for key, direction in reversed(list(order.items())):
                rows.sort(key=lambda r, k=key.upper(): _sort_key(r.get(k)), reverse=str(direction).upper() == "DESC")
        return rows

    def status_add(self, params: dict) -> int:
        fields = self._fields_param(params)
        entity_id, status_id, name = fields.get("ENTITY_ID"), fields.get("STATUS_ID"), fields.get("NAME")
        if not entity_id or not status_id or not name:
            raise RestError.crm("Required fields: ENTITY_ID, STATUS_ID, NAME")
        if any(r["ENTITY_ID"] == entity_id and r["STATUS_ID"] == status_id for r in self.statuses):
            raise RestError.crm("Status with this ID already exists")
        new_id = self._next("status")
        self.statuses.append({"ID": str(new_id), "ENTITY_ID": str(entity_id), "STATUS_ID": str(status_id)[:50],
                              "NAME": str(name), "NAME_INIT": "", "SORT": str(fields.get("SORT") or 500),
                              "SYSTEM": "N", "CATEGORY_ID": None, "COLOR": None, "SEMANTICS": None})
        return new_id

    def as_json(self) -> dict:
        return {
            "crm_mode": self.mode,
            "required_fields": {k: sorted(v) for k, v in self.required_custom.items()},
            "leads": list(self.leads.values()), "deals": list(self.deals.values()),
            "contacts": list(self.contacts.values()), "activities": list(self.activities.values()),
            "timeline_comments": list(self.comments.values()),
            "notifications": list(self.notifications.values()),
            "notifications_sent": dict(self.notifications_sent),
            "statuses_added": [r for r in self.statuses if int(r["ID"]) > 240],
            "created_at": {entity: dict(moments) for entity, moments in self.created_at.items()},
        }


def _sort_key(value):
    number = as_int(value)
    return (0, number, "") if number is not None else (1, 0, str(value or ""))


def _multivalues(record: dict, code: str) -> list[str]:
    return [e["VALUE"] for e in record.get(code) or []]


def matcher(conditions):
    """`matches` for one filter over many records: each IN list becomes a set once, not a scan per record
    (a lookup batch asks for 50 ORIGIN_IDs among thousands of leads; the scan made the sandbox, which
    shares the app's CPU in benchmarks and tests, slower than the portal it stands for)."""
    options: dict[str, frozenset] = {}
    if isinstance(conditions, dict):
        for raw_key, expected in conditions.items():
            prefix, key = _FILTER_PREFIX.match(str(raw_key)).groups()
            expected = _in_list(prefix or "", expected)
            if key.upper() not in ("PHONE", "EMAIL") and isinstance(expected, list) and expected \
                    and not any(isinstance(o, bool) or o in (None, "", []) for o in expected):
                options[raw_key] = frozenset(_equality_key(o) for o in expected)
    return lambda record: matches(record, conditions, options)


def _equality_key(value) -> tuple:
    """Two values are `_equal` (neither a bool nor None) exactly when their keys are equal."""
    number = as_int(value)
    return ("int", number) if number is not None else ("str", str(value))


def _in_list(prefix: str, expected):
    if prefix in ("@", "!@") and isinstance(expected, dict):
        # a PHP array with keys (a batch reference's whole result): its values, nested lists flattened
        return [v for item in expected.values() for v in (item if isinstance(item, list) else [item])]
    return expected


def matches(record: dict, conditions, options: dict | None = None) -> bool:
    """Classic list filters: plain equality plus the `>=ID`-style prefixes; PHONE/EMAIL search multifields.
    `options`: IN lists already made sets by `matcher`, by filter key."""
    if not isinstance(conditions, dict):
        return True
    for raw_key, expected in conditions.items():
        prefix, key = _FILTER_PREFIX.match(str(raw_key)).groups()
        key = key.upper()
        prefix = prefix or ""
        if prefix in ("@", "!@"):
            expected = _in_list(prefix, expected)
            if expected in (None, "", []):
                continue  # an empty IN list adds no condition at all (the REST module's filter, §6)
        if key in ("PHONE", "EMAIL"):
            normalise = digits_of_phone if key == "PHONE" else (lambda v: str(v).strip().lower())
            have = {normalise(v) for v in _multivalues(record, key)}
            wanted = expected if isinstance(expected, list) else [expected]
            hit = any(normalise(w) in have for w in wanted)
            if hit == prefix.startswith("!"):
                return False
            continue
        if not _compare(record.get(key), prefix, expected, (options or {}).get(raw_key)):
            return False
    return True


def _compare(actual, prefix: str, expected, option_keys: frozenset | None = None) -> bool:
    if isinstance(actual, list):
        return any(_compare(a, prefix, expected, option_keys) for a in actual) if prefix not in ("!", "!=") else \
            all(_compare(a, prefix, expected, option_keys) for a in actual)
    if prefix in ("@", "!@") or isinstance(expected, list):
        if option_keys is not None and actual is not None and not isinstance(actual, bool):
            inside = _equality_key(actual) in option_keys
        else:
            options = expected if isinstance(expected, list) else [expected]
            inside = any(_equal(actual, o) for o in options)
        return inside != prefix.startswith("!")
    if prefix in ("", "="):
        return _equal(actual, expected)
    if prefix in ("!", "!="):
        return not _equal(actual, expected)
    if prefix in ("%", "=%", "%="):
        return str(expected).lower() in str(actual or "").lower()
    if prefix == "!%":
        return str(expected).lower() not in str(actual or "").lower()
    a, e = as_int(actual), as_int(expected)
    if a is None or e is None:
        a, e = str(actual or ""), str(expected)
    return {">": a > e, "<": a < e, ">=": a >= e, "<=": a <= e}[prefix]


def _equal(actual, expected) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        truthy = {"y", "true", "1"}
        return (str(actual).lower() in truthy) == (str(expected).lower() in truthy)
    if actual is None:
        return expected in (None, "", [])
    a, e = as_int(actual), as_int(expected)
    if a is not None and e is not None:
        return a == e
    return str(actual) == str(expected)
