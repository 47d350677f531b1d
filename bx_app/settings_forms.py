"""The settings window's forms: Flask-WTF forms and the conversion between posted form data and the settings schema.

Dynamic parts (filter trees, responsible rules, field-mapping rows) travel as flat form names so the page works
without JavaScript: a tree node at path "0.1" of prefix "filter" posts ``filter.0.1.kind`` (group | cond),
``.op``, ``.field``, ``.operator``, ``.value``. A "draft" is that data as nested dicts with raw texts; it converts
to the schema (typed values, blank rows dropped) with errors keyed by the form name they belong to.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Regexp

from bx_app.integration import event_fields as ef
from bx_app.integration import field_mapping, titles
from bx_app.integration.filters import validate_tree

SOURCE_ID = Regexp(r"^[A-Za-z0-9_]+$", message=_l("Код источника: латинские буквы, цифры и «_», например WEBFORM."))
MAX_RULES = 20
_TRUE = ("да", "yes", "true", "1", "y", "д")
_FALSE = ("нет", "no", "false", "0", "n", "н")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class UserIdField(IntegerField):
    """A Bitrix24 user id, with the parse error in the page's language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_("ID пользователя — целое число, например 1.")) from exc


class MainSettingsForm(FlaskForm):
    """The Main tab: the master flag, the default responsible, pipeline and stage, lead sources."""

    active = BooleanField(_l("Интеграция активна"))
    default_responsible_id = UserIdField(
        _l("Ответственный по умолчанию"),
        validators=[InputRequired(_l("Укажите ID пользователя Bitrix24.")),
                    NumberRange(min=1, message=_l("ID пользователя — целое число больше нуля."))])
    deal_category_id = StringField(_l("Воронка сделок по умолчанию"), filters=[_strip])
    deal_stage_id = StringField(_l("Стадия сделки"), filters=[_strip])
    lead_source_offline = StringField(
        _l("Источник (SOURCE_ID) для офлайн заявок"), filters=[_strip],
        validators=[InputRequired(_l("Укажите источник.")), Length(max=50), SOURCE_ID])
    lead_source_chats = StringField(
        _l("Источник (SOURCE_ID) для чатов"), filters=[_strip],
        validators=[InputRequired(_l("Укажите источник.")), Length(max=50), SOURCE_ID])

    def fill_from(self, main: dict) -> None:
        self.active.data = main["active"]
        self.default_responsible_id.data = main["default_responsible_id"]
        self.deal_category_id.data = str(main.get("deal_category_id") or 0)
        self.deal_stage_id.data = main.get("deal_stage_id") or ""
        self.lead_source_offline.data = main["lead_source"]["offline"]
        self.lead_source_chats.data = main["lead_source"]["chats"]

    def check_reference(self, users: list[dict], sources: list[dict], pipelines: list[dict]) -> bool:
        """Synced lists known: refuse users, sources, pipelines and stages that are not (or no longer) there."""
        ok = True
        if users and self.default_responsible_id.data:
            active = {int(u["ID"]) for u in users if u.get("ACTIVE")}
            if self.default_responsible_id.data not in active:
                self.default_responsible_id.errors.append(
                    _("Пользователь %(id)s не найден среди активных пользователей Bitrix24.",
                      id=self.default_responsible_id.data))
                ok = False
        codes = {s["id"] for s in sources}
        for field in (self.lead_source_offline, self.lead_source_chats):
            if codes and field.data and not field.errors and field.data not in codes:
                field.errors.append(_("Источника %(code)s нет в Bitrix24.", code=field.data))
                ok = False
        try:
            category = int(self.deal_category_id.data or 0)
        except ValueError:
            self.deal_category_id.errors.append(_("Выберите воронку."))
            return False
        if pipelines:
            pipeline = next((p for p in pipelines if p["id"] == category), None)
            if pipeline is None:
                self.deal_category_id.errors.append(_("Воронки %(id)s нет в Bitrix24.", id=category))
                return False
            if self.deal_stage_id.data and self.deal_stage_id.data not in {s["id"] for s in pipeline["stages"]}:
                self.deal_stage_id.errors.append(_("Стадия %(stage)s не из воронки «%(name)s».",
                                                   stage=self.deal_stage_id.data, name=pipeline["name"]))
                ok = False
        return ok

    def options(self) -> dict:
        return {
            "default_responsible_id": self.default_responsible_id.data,
            "lead_source": {"offline": self.lead_source_offline.data, "chats": self.lead_source_chats.data},
            "deal_category_id": int(self.deal_category_id.data or 0),
            "deal_stage_id": self.deal_stage_id.data or None,
        }


class CsrfForm(FlaskForm):
    """The channel sections and small POSTs: only the CSRF token; the fields are read by `channel_draft`."""


# --- filter trees <-> drafts <-> form data ------------------------------------------------------------
def value_text(value, lang: str = "ru") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("да" if value else "нет")
    if isinstance(value, list):
        return ", ".join(value_text(v, lang) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def tree_to_draft(tree, path: str = "0") -> dict:
    if tree is None:
        return {"kind": "group", "op": "and", "items": [], "path": path}
    if "items" in tree:
        return {"kind": "group", "op": tree.get("op", "and"), "path": path,
                "items": [tree_to_draft(item, f"{path}.{i}") for i, item in enumerate(tree["items"])]}
    return {"kind": "cond", "path": path, "field": tree.get("field") or "", "operator": tree.get("operator") or "",
            "value": value_text(tree.get("value"))}


def draft_to_formdata(draft: dict, prefix: str) -> dict:
    """The names and values the page renders for a draft (what the browser posts back)."""
    data = {f"{prefix}.{draft['path']}.kind": draft["kind"]}
    if draft["kind"] == "group":
        data[f"{prefix}.{draft['path']}.op"] = draft["op"]
        for item in draft["items"]:
            data.update(draft_to_formdata(item, prefix))
    else:
        for key in ("field", "operator", "value"):
            data[f"{prefix}.{draft['path']}.{key}"] = draft[key]
    return data


def _path_key(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split("."))


def draft_from_formdata(form, prefix: str) -> dict:
    """Rebuild the draft tree of one prefix from posted names (any order); a missing root is an empty group."""
    pattern = re.compile(re.escape(prefix) + r"\.([0-9]+(?:\.[0-9]+)*)\.kind$")
    paths = sorted((m.group(1) for m in (pattern.match(k) for k in form) if m), key=_path_key)
    nodes: dict[str, dict] = {}
    for path in paths:
        if path != "0" and path.rsplit(".", 1)[0] not in nodes:
            continue  # orphan (its group was removed)
        if len(path.split(".")) > 8:
            continue
        kind = form.get(f"{prefix}.{path}.kind")
        if kind == "group":
            op = form.get(f"{prefix}.{path}.op")
            node = {"kind": "group", "op": op if op in ("and", "or") else "and", "items": [], "path": path}
        else:
            node = {"kind": "cond", "path": path, **{k: (form.get(f"{prefix}.{path}.{k}") or "").strip()
                                                     for k in ("field", "operator", "value")}}
        nodes[path] = node
        if path != "0":
            nodes[path.rsplit(".", 1)[0]].setdefault("items", []).append(node)
    root = nodes.get("0") or {"kind": "group", "op": "and", "items": [], "path": "0"}
    if root["kind"] != "group":
        root = {"kind": "group", "op": "and", "items": [root], "path": "0"}
    return renumber(root)


def renumber(node: dict, path: str = "0") -> dict:
    node["path"] = path
    for i, item in enumerate(node.get("items") or []):
        renumber(item, f"{path}.{i}")
    return node


def find_node(draft: dict, path: str) -> dict | None:
    if draft["path"] == path:
        return draft
    for item in draft.get("items") or []:
        found = find_node(item, path)
        if found is not None:
            return found
    return None


def edit_draft(draft: dict, action: str, path: str) -> dict:
    """add_cond / add_group at a group, remove a node; then the paths are renumbered."""
    if action in ("add_cond", "add_group"):
        group = find_node(draft, path)
        if group is not None and group["kind"] == "group":
            if action == "add_cond":
                group["items"].append({"kind": "cond", "field": "", "operator": "", "value": "", "path": ""})
            else:
                group["items"].append({"kind": "group", "op": "or", "path": "", "items": [
                    {"kind": "cond", "field": "", "operator": "", "value": "", "path": ""}]})
    elif action == "remove" and path != "0":
        parent = find_node(draft, path.rsplit(".", 1)[0])
        if parent is not None:
            index = int(path.rsplit(".", 1)[1])
            if index < len(parent["items"]):
                del parent["items"][index]
    return renumber(draft)


def _scalar(text: str, field: ef.EventField):
    if field.type in (ef.NUMBER,):
        try:
            number = float(text.replace(",", ".").replace(" ", ""))
        except ValueError as exc:
            raise ValueError(_("«%(v)s» — не число.", v=text)) from exc
        return int(number) if number.is_integer() else number
    if field.type == ef.ID:
        try:
            return int(text.replace(" ", ""))
        except ValueError as exc:
            raise ValueError(_("«%(v)s» — не числовой ID.", v=text)) from exc
    if field.type == ef.BOOL:
        low = text.strip().casefold()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(_("Нужно «да» или «нет»."))
    return text.strip()


def parse_value(text: str, field: ef.EventField, operator: str):
    text = (text or "").strip()
    if operator in ef.NO_VALUE:
        return None
    if operator in ef.LIST_VALUE or operator in ef.RANGE_VALUE:
        parts = [p.strip() for p in re.split(r"[,;\n]", text) if p.strip()]
        return [_scalar(p, field) for p in parts]
    if not text:
        return "" if field.type in (ef.STRING, ef.TAGS) else None
    return _scalar(text, field)


def draft_to_tree(draft: dict, catalog: dict, prefix: str) -> tuple[dict | None, dict[str, list[str]]]:
    """The schema tree (blank rows and empty groups dropped; a row with a value but no field is an error)
    and errors keyed by form name."""
    errors: dict[str, list[str]] = {}
    paths: dict[str, str] = {}  # tree path → draft path

    def convert(node: dict, tree_path: str):
        if node["kind"] == "group":
            items = []
            for item in node.get("items") or []:
                child = convert(item, f"{tree_path}.items[{len(items)}]" if tree_path else f"items[{len(items)}]")
                if child is not None:
                    items.append(child)
            if not items:
                return None
            paths[tree_path] = node["path"]
            return {"op": node["op"], "items": items}
        if not node.get("field"):
            if str(node.get("value") or "").strip():  # a value typed with no field: refused, never lost
                errors.setdefault(f"{prefix}.{node['path']}.field", []).append(
                    _("Выберите поле условия или очистите его значение."))
            return None
        paths[tree_path] = node["path"]
        field = catalog.get(node["field"])
        operator = node.get("operator") or (field.operators[0] if field else "")
        value = node.get("value")
        if field is not None and operator in field.operators:
            try:
                value = parse_value(value, field, operator)
            except ValueError as exc:
                errors.setdefault(f"{prefix}.{node['path']}.value", []).append(str(exc))
                value = None
        return {"field": node["field"], "operator": operator, "value": value}

    tree = convert(draft, "")
    if tree is None:
        return None, errors
    for error in validate_tree(tree, catalog, _):
        match = re.match(r"^(.*?)(?:\.?(field|operator|value|op|items)(\[\d+\])?)?$", error.path)
        node_path, part = (match.group(1), match.group(2)) if match else (error.path, None)
        draft_path = paths.get(node_path, "0")
        name = f"{prefix}.{draft_path}.{part if part in ('field', 'operator', 'value', 'op') else 'kind'}"
        if not any(name in key for key in errors):
            errors.setdefault(name, []).append(error.message)
    return tree, errors


# --- a channel section ("Чаты", "Офлайн заявки") ------------------------------------------------------
CHOICES = {
    "contact_kinds": ("first", "repeat", "both"),
    "repeat_action": ("create", "attach"),
    "entity": ("lead_deal", "activity", "lead_deal_activity"),
    "lead_deal_type": ("lead", "deal"),
    "transcript_to": ("comments", "timeline"),
    "create_on_chats": ("start", "finish"),
    "create_on_offline": ("arrived", "processed"),
    "create_on_calls": ("start", "finish"),
    "channels_mode": ("all", "selected"),
}
BOOLS = ("active", "use_employee_match", "notify", "pass_without_contacts", "channels_include_new")


def channel_draft(settings: dict, channel: str) -> dict:
    """A draft of one channel section from stored (or default) settings."""
    return {
        "active": settings["active"],
        "channels_mode": settings.get("channels", {}).get("mode", "all"),
        "channels_ids": [str(i) for i in settings.get("channels", {}).get("ids", [])],
        "channels_include_new": settings.get("channels", {}).get("include_new", True),
        "filter": tree_to_draft(settings.get("filter")),
        "rules": [{"name": r.get("name") or "", "type": (r.get("responsible") or {}).get("type", "user"),
                   "user_id": value_text((r.get("responsible") or {}).get("user_id")),
                   "filter": tree_to_draft(r.get("filter"))} for r in settings.get("responsible_rules") or []],
        "use_employee_match": settings["use_employee_match"],
        "default_responsible_id": value_text(settings.get("default_responsible_id")),
        "contact_kinds": settings["contact_kinds"],
        "repeat_action": settings["repeat_action"],
        "entity": settings["entity"],
        "lead_deal_type": settings["lead_deal"]["type"],
        "lead_deal_category_id": value_text(settings["lead_deal"].get("category_id")),
        "lead_deal_stage_id": settings["lead_deal"].get("stage_id") or "",
        "create_on": settings["create_on"],
        "pass_without_contacts": settings.get("pass_without_contacts", True),
        "notify": settings["notify"],
        "transcript_to": settings["transcript_to"],
        "title_lead": settings["title_template"]["lead"],
        "title_deal": settings["title_template"]["deal"],
        "title_activity": settings["title_template"]["activity"],
        "field_map": [{"uis_field": r.get("uis_field") or "", "entity": r.get("entity") or "lead",
                       "b24_field": r.get("b24_field") or "", "value_map": value_map_text(r.get("value_map"))}
                      for r in settings.get("field_map") or []],
        # Calls: which pass (incoming/outgoing, answered/missed, the shortest talk).
        "directions": list(settings.get("directions") or ["in", "out"]),
        "outcomes": list(settings.get("outcomes") or ["answered", "missed"]),
        "min_talk_seconds": value_text(settings.get("min_talk_seconds") or 0),
    }


def value_map_text(value_map: dict | None) -> str:
    return "\n".join(f"{k} = {v}" for k, v in (value_map or {}).items())


def channel_draft_from_form(form, channel: str) -> dict:
    get = form.get
    draft = {name: bool(get(name)) for name in BOOLS}
    for name in ("channels_mode", "contact_kinds", "repeat_action", "entity", "lead_deal_type", "transcript_to",
                 "create_on"):
        draft[name] = (get(name) or "").strip()
    draft["channels_ids"] = [v for v in form.getlist("channels_ids") if v.strip()]
    draft["directions"] = [v for v in form.getlist("directions") if v.strip()]
    draft["outcomes"] = [v for v in form.getlist("outcomes") if v.strip()]
    draft["min_talk_seconds"] = (get("min_talk_seconds") or "").strip()
    for name in ("default_responsible_id", "lead_deal_category_id", "lead_deal_stage_id", "title_lead", "title_deal",
                 "title_activity"):
        draft[name] = (get(name) or "").strip()
    draft["filter"] = draft_from_formdata(form, "filter")
    rules = []
    for i in range(MAX_RULES + 1):
        if f"rule-{i}-type" not in form:
            continue
        rules.append({"name": (get(f"rule-{i}-name") or "").strip(), "type": get(f"rule-{i}-type") or "user",
                      "user_id": (get(f"rule-{i}-user_id") or "").strip(),
                      "filter": draft_from_formdata(form, f"rule-{i}-filter")})
    draft["rules"] = rules
    rows = []
    for i in range(field_mapping.MAX_ROWS + 1):
        if f"fm-{i}-entity" not in form:
            continue
        rows.append({key: (get(f"fm-{i}-{key}") or "").strip() for key in ("uis_field", "entity", "b24_field",
                                                                           "value_map")})
    draft["field_map"] = rows
    return draft


def edit_channel_draft(draft: dict, action: str) -> dict:
    """Apply a no-JavaScript button: add/remove filter rows and groups, rules and mapping rows."""
    verb, _sep, target = action.partition(":")
    if verb in ("add_cond", "add_group", "remove"):
        prefix, _sep, path = target.rpartition(":")
        if prefix == "filter":
            edit_draft(draft["filter"], verb, path)
        elif prefix.startswith("rule-") and prefix.endswith("-filter"):
            index = int(prefix.split("-")[1])
            if index < len(draft["rules"]):
                edit_draft(draft["rules"][index]["filter"], verb, path)
    elif verb == "add_rule" and len(draft["rules"]) < MAX_RULES:
        draft["rules"].append({"name": "", "type": "user", "user_id": "", "filter": {
            "kind": "group", "op": "and", "path": "0",
            "items": [{"kind": "cond", "field": "", "operator": "", "value": "", "path": "0.0"}]}})
    elif verb == "remove_rule" and target.isdigit() and int(target) < len(draft["rules"]):
        del draft["rules"][int(target)]
    elif verb == "up_rule" and target.isdigit() and 0 < int(target) < len(draft["rules"]):
        i = int(target)
        draft["rules"][i - 1], draft["rules"][i] = draft["rules"][i], draft["rules"][i - 1]
    elif verb == "add_map" and len(draft["field_map"]) < field_mapping.MAX_ROWS:
        draft["field_map"].append({"uis_field": "", "entity": "lead", "b24_field": "", "value_map": ""})
    elif verb == "remove_map" and target.isdigit() and int(target) < len(draft["field_map"]):
        del draft["field_map"][int(target)]
    return draft


def parse_value_map(text: str, meta: dict | None) -> dict | None:
    """Lines "uis value = Bitrix24 item" (the item's ID or its label) into {uis value: item ID}."""
    items = field_mapping.enum_items(meta)
    by_label = {v.casefold(): k for k, v in items.items()}
    result = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        left, sep, right = line.partition("=")
        left, right = left.strip(), right.strip()
        if not sep:
            raise ValueError(_("Строка «%(line)s»: нужно «значение UIS = значение Bitrix24».", line=line.strip()))
        result[left] = by_label.get(right.casefold(), right)
    return result or None


def channel_options(draft: dict, channel: str, ref: dict) -> tuple[bool, dict, dict[str, list[str]]]:
    """(active, options in the schema, errors by form name) of a posted channel section.

    ``ref`` holds the synced lists: users, channels, pipelines, b24_fields, crm_mode.
    """
    errors: dict[str, list[str]] = {}
    catalog = ef.catalog_for(channel)

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    def choice(name: str, key: str | None = None) -> str:
        value = draft.get(name)
        allowed = CHOICES[key or name]
        if value not in allowed:
            err(name, _("Выберите один из вариантов."))
            return allowed[-1]
        return value

    active_users = {int(u["ID"]) for u in ref.get("users") or [] if u.get("ACTIVE")}
    names = {int(u["ID"]): " ".join(p for p in (u.get("LAST_NAME"), u.get("NAME")) if p) for u in ref.get("users") or []}

    def user_id(name: str, text: str, required: bool) -> int | None:
        if not text:
            if required:
                err(name, _("Выберите пользователя Bitrix24."))
            return None
        try:
            uid = int(text)
        except ValueError:
            err(name, _("ID пользователя — целое число, например 1."))
            return None
        if active_users and uid not in active_users:
            who = names.get(uid)
            err(name, _("Пользователь %(who)s удалён или неактивен в Bitrix24.", who=f"{who} ({uid})" if who else uid))
        return uid

    options: dict = {}
    if channel == "chats":
        known = {int(c["id"]): c.get("name") for c in ref.get("channels") or []}
        ids = []
        for raw in draft["channels_ids"]:
            try:
                ids.append(int(raw))
            except ValueError:
                err("channels_ids", _("Неизвестный канал %(id)s.", id=raw))
        mode = choice("channels_mode")
        if known:
            for cid in ids:
                if cid not in known:
                    err("channels_ids", _("Канала %(id)s больше нет в UIS (обновите справочники).", id=cid))
        if mode == "selected" and not ids:
            err("channels_ids", _("Отметьте хотя бы один канал или выберите «все каналы»."))
        options["channels"] = {"mode": mode, "ids": sorted(set(ids)), "include_new": draft["channels_include_new"]}
        options["pass_without_contacts"] = draft["pass_without_contacts"]
    else:
        options["pass_without_contacts"] = True
    if channel == "calls":
        directions = [d for d in ("in", "out") if d in (draft.get("directions") or [])]
        outcomes = [o for o in ("answered", "missed") if o in (draft.get("outcomes") or [])]
        if not directions or len(directions) != len(set(draft.get("directions") or [])):
            err("directions", _("Отметьте входящие, исходящие или оба."))
        if not outcomes or len(outcomes) != len(set(draft.get("outcomes") or [])):
            err("outcomes", _("Отметьте отвеченные, пропущенные или оба."))
        minimum = 0
        text = draft.get("min_talk_seconds") or "0"
        try:
            minimum = int(text)
        except ValueError:
            err("min_talk_seconds", _("Целое число секунд, например 10."))
        if not 0 <= minimum <= 86_400:
            err("min_talk_seconds", _("От 0 до 86400 секунд."))
        options.update(directions=directions, outcomes=outcomes, min_talk_seconds=max(0, min(minimum, 86_400)))
    tree, tree_errors = draft_to_tree(draft["filter"], catalog, "filter")
    errors.update(tree_errors)
    options["filter"] = tree
    rules = []
    for i, rule in enumerate(draft["rules"]):
        rule_tree, rule_errors = draft_to_tree(rule["filter"], catalog, f"rule-{i}-filter")
        errors.update(rule_errors)
        if rule_tree is None:
            err(f"rule-{i}-filter.0.kind", _("Добавьте условие правила."))
        if rule["type"] == "employee":
            responsible = {"type": "employee"}
        else:
            responsible = {"type": "user", "user_id": user_id(f"rule-{i}-user_id", rule["user_id"], True)}
        rules.append({"name": rule["name"][:100] or _("Правило %(n)d", n=i + 1), "filter": rule_tree,
                      "responsible": responsible})
    options["responsible_rules"] = rules
    options["use_employee_match"] = draft["use_employee_match"]
    options["default_responsible_id"] = user_id("default_responsible_id", draft["default_responsible_id"], False)
    options["contact_kinds"] = choice("contact_kinds")
    options["repeat_action"] = choice("repeat_action")
    options["entity"] = choice("entity")
    lead_deal_type = choice("lead_deal_type")
    category = None
    if draft["lead_deal_category_id"]:
        try:
            category = int(draft["lead_deal_category_id"])
        except ValueError:
            err("lead_deal_category_id", _("Выберите воронку."))
    stage = draft["lead_deal_stage_id"] or None
    pipelines = ref.get("pipelines") or []
    if pipelines and category is not None:
        pipeline = next((p for p in pipelines if p["id"] == category), None)
        if pipeline is None:
            err("lead_deal_category_id", _("Воронки %(id)s нет в Bitrix24.", id=category))
        elif stage and stage not in {s["id"] for s in pipeline["stages"]}:
            err("lead_deal_stage_id", _("Стадия %(stage)s не из воронки «%(name)s».", stage=stage,
                                        name=pipeline["name"]))
    if stage and category is None:
        err("lead_deal_stage_id", _("Сначала выберите воронку."))
    if ref.get("crm_mode") == 2:
        lead_deal_type = "deal"  # simple CRM: leads do not exist
    options["lead_deal"] = {"type": lead_deal_type, "category_id": category, "stage_id": stage}
    options["create_on"] = choice("create_on", f"create_on_{channel}")
    options["notify"] = draft["notify"]
    options["transcript_to"] = choice("transcript_to")
    options["title_template"] = {}
    for entity in ("lead", "deal", "activity"):
        text = draft[f"title_{entity}"]
        for message in titles.validate_template(text, _):
            err(f"title_{entity}", message)
        options["title_template"][entity] = text
    rows = []
    b24_fields = ref.get("b24_fields") or {}
    for i, row in enumerate(draft["field_map"]):
        if not row["uis_field"] and not row["b24_field"]:
            continue
        meta = (b24_fields.get(row["entity"]) or {}).get(row["b24_field"])
        try:
            value_map = parse_value_map(row["value_map"], meta)
        except ValueError as exc:
            err(f"fm-{i}-value_map", str(exc))
            value_map = None
        rows.append(({"uis_field": row["uis_field"], "entity": row["entity"], "b24_field": row["b24_field"],
                      "value_map": value_map}, i))
    if b24_fields:
        for error in field_mapping.validate_rows([r for r, _i in rows], b24_fields, catalog, _=_):
            match = re.match(r"field_map\[(\d+)\]\.(\w+)", error.path)
            if match:
                err(f"fm-{rows[int(match.group(1))][1]}-{match.group(2)}", error.message)
    elif rows:
        err("fm-0-b24_field", _("Поля Bitrix24 ещё не загружены: запустите «Ручную синхронизацию» на вкладке «Главная»."))
    options["field_map"] = [r for r, _i in rows]
    return draft["active"], options, errors
