"""The plans into Bitrix24 in shared batches; a notification only after its entity exists."""
from __future__ import annotations

import contextlib
import random
import time

from bx_app.bitrix.client import MAX_BATCH, BatchResult, PortalClient
from bx_app.bitrix.errors import BitrixError, PortalNeedsReauth, QueryLimitExceeded
from bx_app.engine import journal
from bx_app.engine.batches import prefixed
from bx_app.engine.lookup import TRANSIENT
from bx_app.engine.work import Group, Work
from bx_app.extensions import db
from bx_app.integration.planner import USER_REFUSED, resume
from bx_app.models import Event
from bx_app.models.event import EventStatus

# A write batch refused by the bucket was not executed: send it again after a pause, this many times.
WRITE_LIMIT_RETRIES = 4


def write(group: Group, client: PortalClient, works: list[Work]) -> None:
    """Write the plans in shared batches. A notification travels only after its entity exists.

    One event alone: one batch with halt (a failed entity stops its notification). Several events: their
    entities share batches without halt (one event's error stays its own), and each notification rides
    in the next batch with the entity's id filled in.
    """
    if len(works) == 1:
        work = works[0]
        answer = _send(group, client, prefixed(work.plan.commands, f"e{work.event_id}_"), [work], halt=True)
        if answer is not None:
            record(group, work, answer, final=True)
        return
    main = [(w, "main", prefixed({k: c for k, c in w.plan.commands.items() if k != "notify"}, f"e{w.event_id}_"))
            for w in works]
    ready: list = []
    while main or ready:
        batch: dict = {}
        owners: list = []
        for pending in (ready, main):
            while pending and len(batch) + len(pending[0][2]) <= MAX_BATCH:
                unit = pending.pop(0)
                batch.update(unit[2])
                owners.append(unit)
        if not batch:  # units with no commands (a resumed plan with only a notification left)
            for work, _part, _ in owners:
                ready.extend(_after_main(group, work, None))
            continue
        answer = _send(group, client, batch, [u[0] for u in owners])
        # The batch's partial marks and finished rows in one transaction, not one per event.
        with journal.rows_together([u[0].event_id for u in owners] if answer is not None else []):
            for work, part, _commands in owners:
                if answer is None or work.status:
                    continue
                if part == "main":
                    ready.extend(_after_main(group, work, answer))
                else:
                    record(group, work, answer, final=True)


def _after_main(group: Group, work: Work, answer: BatchResult | None) -> list:
    """Record the entity part; hand back the notification unit when it should go now."""
    if answer is not None and not record(group, work, answer, final="notify" not in work.plan.commands):
        return []
    if "notify" not in work.plan.commands or work.status:
        return []
    notify = resume({"notify": work.plan.commands["notify"]}, work.written or {})
    return [(work, "notify", prefixed(notify, f"e{work.event_id}_"))]


def _send(group: Group, client: PortalClient, batch: dict, owners: list[Work], halt: bool = False):
    for attempt in range(WRITE_LIMIT_RETRIES + 1):
        try:
            return client.batch(batch, halt=halt)
        except QueryLimitExceeded as exc:  # refused by the bucket before running: safe to send again
            if attempt == WRITE_LIMIT_RETRIES:
                for work in owners:
                    journal.retry(group, work, f"{exc}", 0)
                return None
            client.limiter.note_overflow()
            time.sleep(random.uniform(0.5, 1.0) * (2 ** attempt))
        except PortalNeedsReauth as exc:
            for work in owners:
                journal.fail(work, "needs_reauth", str(exc))
            return None
        except TRANSIENT as exc:
            # 5xx, network, OPERATION_TIME_LIMIT: the batch may or may not have run. Never re-send it
            # blindly; the retry reads ORIGIN_IDs first and writes only what is missing.
            for work in owners:
                journal.retry(group, work, f"{exc}", int(getattr(exc, "retry_after", 0) or 0))
            return None
        except BitrixError as exc:
            for work in owners:
                journal.fail(work, "bitrix_error", exc.description or str(exc))
            return None
    return None


def _telephony_answers(work: Work, written: dict, errors: list) -> list:
    """Telephony errors that are news, not failures: a finish of a call already finished by an attempt whose
    answer was lost ("Call is not found" for a CALL_ID we registered) is done; a refused user is noted so that
    the next plan registers with the default responsible."""
    kept = []
    for part, error in errors:
        text = str(getattr(error, "description", "") or "")
        finish = work.plan.commands.get("finish")
        if part == "finish" and "Call is not found" in text and finish and \
                not str(finish[1].get("CALL_ID", "")).startswith("$result"):
            written["finish"] = 1
            continue
        if part == "register" and USER_REFUSED in text:
            written["user_refused"] = int(work.plan.commands["register"][1].get("USER_ID") or 0)
        kept.append((part, error))
    return kept


def record(group: Group, work: Work, answer: BatchResult, final: bool) -> bool:
    """Note what this answer wrote for the event; True when its part went through (journal row when final)."""
    tag = f"e{work.event_id}_"
    written = dict(work.written or {})
    for key in work.plan.commands:
        if tag + key not in answer.results:
            continue
        value = answer.results.get(tag + key)
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        elif isinstance(value, dict) and ("CALL_ID" in value or "FILE_ID" in value):
            value = value.get("CALL_ID") if key == "register" else value.get("FILE_ID") or 1
        with contextlib.suppress(TypeError, ValueError):
            value = int(value)
        written[key] = value if value not in (None, False, "") else 0
    errors = [(k[len(tag):], e) for k, e in answer.errors.items() if k.startswith(tag)]
    order = list(work.plan.commands)
    errors = sorted(_telephony_answers(work, written, errors),  # the first failed part explains the ones after it
                    key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    work.written = written
    ids = {f"{k}_id": v for k, v in written.items() if k in ("lead", "deal", "contact", "activity") and v}
    if work.plan.action == "attach" and work.plan.summary.get("attached_to"):
        attached = work.plan.summary["attached_to"]
        ids.setdefault(f"{attached['type']}_id", attached["id"])
    result = {**ids, "written": written, "plan": work.plan.summary}
    missing = [k for k in work.plan.commands if k not in written and (final or k != "notify")]
    if not errors and not missing:
        if final:
            journal.done(work, EventStatus.DONE, None, result)
        else:  # the notification follows: a retry must know the entity part is written (committed by `write`
            # once for the whole batch; were the worker to die first, the lookup still finds the entity)
            Event.query.filter_by(id=work.event_id).update({"result": {**result, "partial": True}})
        return True
    result["partial"] = True
    Event.query.filter_by(id=work.event_id).update({"result": result})
    db.session.commit()
    part, error = errors[0] if errors else (missing[0], None)
    if part == "register" and USER_REFUSED in str(getattr(error, "description", "") or ""):
        # The responsible is gone in Bitrix24: once more at once, with the default responsible (the planner).
        journal.retry(group, work, f"{part}: {error.description}", 0)
    elif part == "record" and error is not None:
        # The call stays registered and finished; the record is tried again, the warning stays in the journal.
        journal.retry(group, work, f"record: {error.description or error}", 0)
    elif error is None or isinstance(error, TRANSIENT):
        journal.retry(group, work, f"{part}: {error or 'not written'}", int(getattr(error, "retry_after", 0) or 0))
    else:
        journal.fail(work, "bitrix_error", error.description or str(error), result)
    return False
