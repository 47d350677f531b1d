"""PHP-style bracket parameters (`fields[PHONE][0][VALUE]=...`) to nested dicts and lists, and back."""
from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """`fields[PHONE][0][VALUE]` -> ['fields', 'PHONE', '0', 'VALUE']; a malformed tail stays in the name."""
    head, bracket, _ = key.partition("[")
    if not bracket or not head:
        return [key]
    tail = key[len(head):]
    parts = _KEY_PART.findall(tail)
    if "".join(f"[{p}]" for p in parts) != tail:
        return [key]
    return [head, *parts]


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict:
    """Build the nested structure PHP would put in $_REQUEST; all-numeric keys turn into lists."""
    root: dict = {}
    for key, value in pairs:
        parts = split_key(key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "":
                part = str(_next_index(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return _lists_from_numeric(root)


def parse_query(query: str) -> dict:
    return parse_pairs(parse_qsl(query, keep_blank_values=True))


def _next_index(node: dict) -> int:
    numeric = [int(k) for k in node if k.isdigit()]
    return max(numeric) + 1 if numeric else 0


def _lists_from_numeric(value):
    if isinstance(value, dict):
        converted = {k: _lists_from_numeric(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value


def encode(params: dict, prefix: str = "") -> str:
    """The inverse: a nested structure as a PHP bracket query string."""
    items: list[str] = []
    _encode_into(items, params, prefix)
    return "&".join(items)


def _encode_into(items: list[str], value, prefix: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _encode_into(items, item, f"{prefix}[{key}]" if prefix else str(key))
    elif isinstance(value, list | tuple):
        for key, item in enumerate(value):
            _encode_into(items, item, f"{prefix}[{key}]")
    else:
        if value is None:
            text = ""
        elif value is True:
            text = "1"
        elif value is False:
            text = "0"
        else:
            text = str(value)
        items.append(f"{quote(prefix, safe='[]')}={quote(text, safe='')}")
