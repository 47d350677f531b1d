"""A write batch's journal rows are finished in one commit and logged after it; a failure before the commit
leaves them unfinished (retried: the lookup finds what Bitrix24 already has), never half-recorded."""
from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import event as sa_event

from bx_app.engine import journal
from bx_app.extensions import db
from bx_app.models import Event
from bx_app.models.event import EventStatus

from .factories import make_credential


def _events(n: int) -> list[int]:
    credential = make_credential(1)
    rows = [Event(credential_id=credential.id, kind="offline_message", external_id=str(i), stage="arrived",
                  dedupe_key=f"offline_message:{i}:arrived", source="push", payload={}) for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _commits() -> list:
    seen: list = []
    sa_event.listen(db.session, "after_commit", lambda session: seen.append(1))
    return seen


def test_the_rows_of_a_batch_are_finished_in_one_commit_and_each_logged_once(app, caplog):
    ids = _events(5)
    commits = _commits()
    with caplog.at_level(logging.INFO, logger="bx_app.events"), journal.rows_together(ids):
        for event_id in ids:
            journal.finish(event_id, EventStatus.DONE, None, result={"lead_id": event_id})
        assert caplog.records == []  # nothing counted before the rows are committed

    assert len(commits) == 1
    db.session.expire_all()
    assert {db.session.get(Event, i).status for i in ids} == {EventStatus.DONE}
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    assert sorted(line["event_id"] for line in lines) == sorted(ids)
    assert {line["outcome"] for line in lines} == {"done"} and {line["kind"] for line in lines} == {"offline_message"}


def test_a_failure_before_the_commit_leaves_every_row_unfinished(app, caplog):
    ids = _events(3)
    with caplog.at_level(logging.INFO, logger="bx_app.events"), pytest.raises(RuntimeError), \
            journal.rows_together(ids):
        journal.finish(ids[0], EventStatus.DONE)
        raise RuntimeError("the next answer could not be read")
    db.session.rollback()

    assert {db.session.get(Event, i).status for i in ids} == {EventStatus.NEW}
    assert caplog.records == []


def test_outside_a_batch_each_row_is_its_own_commit(app):
    ids = _events(2)
    commits = _commits()
    for event_id in ids:
        journal.finish(event_id, EventStatus.SKIPPED, "filter")
    assert len(commits) == 2
