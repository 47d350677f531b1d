"""Packing several events' Bitrix24 commands into shared batches: unique keys, whole events per batch."""
from __future__ import annotations

import re

from bx_app.bitrix.client import MAX_BATCH

_REF_RE = re.compile(r"\$result\[([A-Za-z_][A-Za-z0-9_\-]*)\]")


def _rename(value, prefix: str, keys: set[str]):
    if isinstance(value, str):
        return _REF_RE.sub(lambda m: f"$result[{prefix}{m.group(1)}]" if m.group(1) in keys else m.group(0), value)
    if isinstance(value, dict):
        return {k: _rename(v, prefix, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, prefix, keys) for v in value]
    return value


def prefixed(commands: dict, prefix: str) -> dict:
    """One event's commands under keys unique in a shared batch; its `$result[...]` references follow."""
    keys = set(commands)
    return {prefix + key: (method, _rename(params, prefix, keys)) for key, (method, params) in commands.items()}


def pack(units: list[tuple[dict, list]], size: int = MAX_BATCH) -> list[tuple[dict, list]]:
    """Units (commands that must travel together, their owners) into batches of ≤ `size` commands, in order.

    A unit is never split, so `$result` references and an event's all-or-nothing answer stay inside one
    HTTP request.
    """
    batches: list[tuple[dict, list]] = []
    current: dict = {}
    owners: list = []
    for commands, unit_owners in units:
        if not commands:
            continue
        if len(commands) > size:
            raise ValueError(f"{len(commands)} commands of one unit do not fit one batch")
        if current and len(current) + len(commands) > size:
            batches.append((current, owners))
            current, owners = {}, []
        current.update(commands)
        owners.extend(o for o in unit_owners if o not in owners)
    if current:
        batches.append((current, owners))
    return batches
