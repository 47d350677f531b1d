"""What Bitrix24 already has for a group: one shared read round, a second only for repeats' open entities."""
from __future__ import annotations

import contextlib

from bx_app.bitrix.client import MAX_BATCH, PortalClient
from bx_app.bitrix.errors import BitrixError, NetworkError, PortalNeedsReauth, RateLimited, ServerError
from bx_app.engine import journal
from bx_app.engine.batches import pack
from bx_app.engine.work import Group, Work
from bx_app.integration.planner import ORIGINATOR_ID

TRANSIENT = (RateLimited, ServerError, NetworkError)


def origin_commands(works: list[Work]) -> list[tuple[dict, list[Work]]]:
    """ORIGIN_ID checks for up to 50 events in one command per entity type."""
    units = []
    for start in range(0, len(works), MAX_BATCH):
        chunk = works[start:start + MAX_BATCH]
        origins = sorted({w.needs.origin for w in chunk})
        tag = f"o{chunk[0].event_id}"
        by_origin = {"filter": {"ORIGINATOR_ID": ORIGINATOR_ID, "@ORIGIN_ID": origins}, "select": ["ID", "ORIGIN_ID"]}
        commands = {f"{tag}_{e}": (f"crm.{e}.list", by_origin) for e in ("lead", "deal", "contact")}
        activity_origins = sorted({w.needs.origin for w in chunk if w.needs.activity})
        if activity_origins:
            commands[f"{tag}_activity"] = ("crm.activity.list", {
                "filter": {"ORIGINATOR_ID": ORIGINATOR_ID, "@ORIGIN_ID": activity_origins},
                "select": ["ID", "ORIGIN_ID"]})
        units.append((commands, chunk))
    return units


def event_commands(work: Work) -> dict:
    """Round one for one event: its chat start's comments and its duplicates by phone/e-mail.

    Nothing here refers to another command's answer: on a real portal a `$result[key][LEAD]` whose key is
    missing resolves to the whole answer (or `[]`), and an empty `@ID` filter is no filter at all.
    """
    needs, tag = work.needs, f"e{work.event_id}"
    commands = {}
    if work.start:
        commands[f"{tag}_tc"] = ("crm.timeline.comment.list", {
            "filter": {"ENTITY_ID": int(work.start["id"]), "ENTITY_TYPE": work.start["type"]},
            "select": ["ID", "COMMENT"], "order": {"ID": "DESC"}})
    for comm, value in (("phone", needs.phone), ("email", needs.email)):
        if value and needs.duplicates:
            commands[f"{tag}_d{comm}"] = ("crm.duplicate.findbycomm", {"type": comm.upper(), "values": [value]})
    return commands


def open_entity_commands(work: Work) -> dict:
    """Round two for one event: its open deal (by the contacts found) and open lead (by the leads found),
    with the concrete ids round one read; an empty id list sends nothing."""
    if not (work.needs and work.needs.open_entity):
        return {}
    duplicates, tag = work.found.get("duplicates") or {}, f"e{work.event_id}"
    commands = {}
    if duplicates.get("CONTACT"):
        commands[f"{tag}_cdeal"] = ("crm.deal.list", {
            "filter": {"@CONTACT_ID": sorted(duplicates["CONTACT"]), "CLOSED": "N"},
            "select": ["ID", "ASSIGNED_BY_ID"], "order": {"ID": "DESC"}})
    if duplicates.get("LEAD"):
        commands[f"{tag}_llead"] = ("crm.lead.list", {
            "filter": {"@ID": sorted(duplicates["LEAD"]), "STATUS_SEMANTIC_ID": "P"},
            "select": ["ID", "ASSIGNED_BY_ID"], "order": {"ID": "DESC"}})
    return commands


def read_round_one(results: dict, works: list[Work]) -> None:
    """Each event's share of the first round: what its communication created, its duplicates, comments."""
    by_origin: dict[str, dict] = {}
    for key, rows in results.items():
        if key.startswith("o") and "_" in key and isinstance(rows, list):
            entity = key.rsplit("_", 1)[1]
            for row in rows:
                if isinstance(row, dict) and row.get("ORIGIN_ID") and row.get("ID"):
                    by_origin.setdefault(str(row["ORIGIN_ID"]), {}).setdefault(entity, int(row["ID"]))
    for work in works:
        if work.status:
            continue
        tag = f"e{work.event_id}"
        duplicates: dict[str, list[int]] = {}
        for comm in ("phone", "email"):
            hits = results.get(f"{tag}_d{comm}")
            if isinstance(hits, dict):  # no match at all is `[]`
                for kind, ids in hits.items():
                    known = duplicates.setdefault(kind, [])
                    known.extend(i for i in (int(i) for i in ids or []) if i not in known)
        comments = results.get(f"{tag}_tc")
        work.found = {"existing": by_origin.get(work.needs.origin, {}), "duplicates": duplicates, "open": None,
                      "comments": [row.get("COMMENT") for row in comments if isinstance(row, dict)]
                      if isinstance(comments, list) else None}


def read_round_two(results: dict, works: list[Work]) -> None:
    """The open deal (preferred) or lead of each repeat, newest first."""
    for work in works:
        if work.status:
            continue
        tag = f"e{work.event_id}"
        for key, entity in ((f"{tag}_cdeal", "deal"), (f"{tag}_llead", "lead")):
            rows = results.get(key)
            if isinstance(rows, list) and rows and isinstance(rows[0], dict):
                row = rows[0]
                work.found["open"] = {"type": entity, "id": int(row["ID"]), "responsible_id":
                                      int(row["ASSIGNED_BY_ID"]) if row.get("ASSIGNED_BY_ID") else None}
                break


def send(group: Group, client: PortalClient, units: list[tuple[dict, list[Work]]]) -> dict:
    """Send lookup units in shared batches; a failure marks only the owners of the failed part."""
    results: dict = {}
    for batch, owners in pack(units):
        try:
            answer = client.batch(batch)
        except PortalNeedsReauth as exc:
            for work in owners:
                journal.fail(work, "needs_reauth", str(exc))
            continue
        except TRANSIENT as exc:
            for work in owners:
                journal.retry(group, work, f"{exc}", int(getattr(exc, "retry_after", 0) or 0))
            continue
        except BitrixError as exc:
            for work in owners:
                journal.fail(work, "bitrix_error", exc.description or str(exc))
            continue
        results.update(answer.results)
        for key, error in answer.errors.items():
            hit = [w for w in owners if key.startswith(f"e{w.event_id}_")] or owners
            for work in hit:
                if isinstance(error, TRANSIENT):
                    journal.retry(group, work, f"{error}", 0)
                else:
                    journal.fail(work, "bitrix_error", error.description or str(error))
    return results


def lookup(group: Group, client: PortalClient, works: list[Work]) -> int | None:
    """Fill each work's `found`; returns the portal's CRM mode (read here when not known yet)."""
    crm_mode = group.crm_mode
    units: list[tuple[dict, list[Work]]] = []
    if crm_mode is None:
        units.append(({"crm_mode": ("crm.settings.mode.get", {})}, []))
    units += origin_commands(works)
    units += [(c, [w]) for w in works if (c := event_commands(w))]
    results = send(group, client, units)
    if "crm_mode" in results:
        with contextlib.suppress(TypeError, ValueError):
            crm_mode = int(results["crm_mode"])
    read_round_one(results, works)
    # Round two, only for repeats whose duplicates were found: the open deal/lead among those ids.
    second = [(c, [w]) for w in works if not w.status and (c := open_entity_commands(w))]
    if second:
        read_round_two(send(group, client, second), works)
    return crm_mode
