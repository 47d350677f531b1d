"""A portal's CRM behind `responses`, resolving batches the way Bitrix24's REST module does (reference §5, §6).

Written from the reference and the facts of issue 10, never from production code:
- a batch command is a PHP-bracket query string; a parameter whose whole value is a reference
  `$result[cmd][k1][k2]` becomes the structure it names, where the walk over the keys stops at the first
  missing key and gives the last level it reached (the whole answer, or `[]`); inside a longer text a
  number becomes text and anything else leaves the text as it was;
- a list filter `@FIELD` with an empty list adds no condition; lists are 50 rows a page;
- `crm.duplicate.findbycomm` answers `{"LEAD": [...], "CONTACT": [...]}` with the types that have hits,
  and `[]` when nothing matches at all.
"""
from __future__ import annotations

import json
import re
from itertools import count
from urllib.parse import parse_qsl

import responses

_REFERENCE = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")
_KEY_PATH = re.compile(r"^([^\[]+)((?:\[[^\]]*\])*)$")
PAGE = 50


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def _phone_key(text: str) -> str:
    digits = _digits(text)
    return "7" + digits[1:] if len(digits) == 11 and digits[0] in "78" else digits


class CrmPortal:
    """Leads, deals, contacts, activities, comments and notifications of one portal."""

    def __init__(self, rsps: responses.RequestsMock, rest_url: str):
        self.tables: dict[str, dict[int, dict]] = {t: {} for t in ("lead", "deal", "contact", "activity",
                                                                    "comment", "notify")}
        self.ids = count(100)
        self.sent: list[tuple[str, dict]] = []  # every command as the portal executed it (after references)
        rsps.add_callback(responses.POST, f"{rest_url}batch", callback=self._batch)

    # --- seeding
    def add(self, table: str, **fields) -> int:
        new_id = int(fields.pop("ID", None) or next(self.ids))
        self.tables[table][new_id] = {"ID": str(new_id), **fields}
        return new_id

    # --- the batch endpoint
    def _batch(self, request):
        body = json.loads(request.body)
        results, errors = {}, {}
        for key, command in body["cmd"].items():
            method, _, query = command.partition("?")
            params = self._params(query, results)
            self.sent.append((method, params))
            try:
                results[key] = self._call(method, params)
            except LookupError as exc:
                errors[key] = {"error": "", "error_description": str(exc)}
                if int(body.get("halt") or 0):
                    break
        answer = {"result": results or [], "result_error": errors or [], "result_total": [], "result_next": [],
                  "result_time": []}
        return 200, {}, json.dumps({"result": answer})

    def _params(self, query: str, results: dict) -> dict:
        params: dict = {}
        for raw_key, value in parse_qsl(query, keep_blank_values=True):
            match = _KEY_PATH.match(raw_key)
            path = [match.group(1)] + re.findall(r"\[([^\]]*)\]", match.group(2))
            node = params
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = self._substitute(value, results)
        return _lists(params)

    @staticmethod
    def _walk(reference: re.Match, results: dict):
        if reference.group(1) not in results:
            return None
        level = results[reference.group(1)]
        for key in re.findall(r"\[([^\]]*)\]", reference.group(2)):
            if isinstance(level, dict) and key in level:
                level = level[key]
            elif isinstance(level, list) and key.isdigit() and int(key) < len(level):
                level = level[int(key)]
            else:
                break  # the first missing key: the last level reached stands for the reference
        return level

    def _substitute(self, value: str, results: dict):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            found = self._walk(whole, results)
            return value if found is None else found

        def inline(match):
            found = self._walk(match, results)
            return str(found) if isinstance(found, int | float | str) and not isinstance(found, bool) else match.group(0)
        return _REFERENCE.sub(inline, value)

    # --- methods
    def _call(self, method: str, params: dict):
        if method == "crm.duplicate.findbycomm":
            return self._duplicates(params)
        entity, action = method.split(".")[1], method.split(".")[-1]
        if method == "crm.timeline.comment.list":
            entity = "comment"
        if method == "im.notify.system.add":
            return self.add("notify", **params)
        if action == "list":
            return self._list(entity, params)
        if action == "add":
            fields = params.get("fields") or {}
            if entity == "activity" and int(fields.get("OWNER_ID") or 0) not in self._owners(fields):
                raise LookupError("Could not build binding")
            return self.add(entity, **fields)
        raise LookupError(f"method {method} is not in the fake")

    def _owners(self, fields: dict) -> dict:
        table = {"1": "lead", "2": "deal", "3": "contact"}.get(str(fields.get("OWNER_TYPE_ID")), "")
        return self.tables.get(table, {})

    def _duplicates(self, params: dict):
        kind = str(params.get("type", "")).upper()
        values = params.get("values") or []
        field = "PHONE" if kind == "PHONE" else "EMAIL"
        same = _phone_key if kind == "PHONE" else str.lower
        wanted = {same(str(v)) for v in values}
        hits: dict[str, list[int]] = {}
        for table in ("lead", "contact"):
            for row_id, row in sorted(self.tables[table].items()):
                if any(same(str(m.get("VALUE", ""))) in wanted for m in row.get(field) or []):
                    hits.setdefault(table.upper(), []).append(row_id)
        return hits or []

    def _list(self, entity: str, params: dict) -> list[dict]:
        rows = [row for row in self.tables[entity].values() if _matches(row, params.get("filter") or {})]
        descending = any(str(v).upper() == "DESC" for v in (params.get("order") or {}).values())
        rows.sort(key=lambda r: int(r["ID"]), reverse=descending)
        select = params.get("select") or []
        return [{k: v for k, v in row.items() if not select or k in select} for row in rows[:PAGE]]


def _lists(node):
    """PHP arrays with keys 0..n-1 read back as lists."""
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node) and sorted(int(k) for k in node) == list(range(len(node))):
            return [node[str(i)] for i in range(len(node))]
    return node


def _matches(row: dict, filters: dict) -> bool:
    for key, wanted in filters.items():
        if key.startswith("@"):
            members = list(wanted.values()) if isinstance(wanted, dict) else wanted
            if not isinstance(members, list):
                members = [members]
            if not members:
                continue  # an empty IN list adds no condition
            if str(row.get(key[1:])) not in {str(m) for m in members if not isinstance(m, dict | list)}:
                return False
        elif str(row.get(key, "")) != str(wanted):
            return False
    return True
