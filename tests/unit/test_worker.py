"""The worker: jobs run in its own process (no fork per job), each in a fresh app context and database session."""
from __future__ import annotations

import os

import pytest
from redis import Redis
from rq import Queue

from bx_app.extensions import db
from bx_app.jobs import in_app_context
from bx_app.models import Portal

from .factories import make_credential


def record_pid(redis_url: str, key: str) -> None:
    """A job that says which process ran it."""
    Redis.from_url(redis_url).set(key, os.getpid())


@pytest.mark.parametrize(("options", "same_process"), [([], True), (["--fork"], False)])
def test_worker_runs_jobs_in_its_own_process_unless_asked_to_fork(app, redis_url, options, same_process):
    Queue("events", connection=Redis.from_url(redis_url)).enqueue(record_pid, redis_url, "ran-in")

    result = app.test_cli_runner().invoke(args=["worker", "--burst", *options])

    assert result.exit_code == 0, result.output
    pid = int(Redis.from_url(redis_url).get("ran-in"))
    assert (pid == os.getpid()) is same_process


def test_each_job_starts_with_its_own_session_whatever_the_last_one_left(app):
    portal_id = make_credential(1).portal_id
    sessions = []

    @in_app_context
    def broken_job():
        sessions.append(db.session())
        db.session.get(Portal, portal_id).domain = "half-written.example"  # never committed
        raise RuntimeError("the job failed half-way")

    @in_app_context
    def next_job():
        sessions.append(db.session())
        assert not db.session.dirty
        return db.session.get(Portal, portal_id).domain

    with pytest.raises(RuntimeError):
        broken_job()
    domain = next_job()

    assert domain != "half-written.example"
    assert sessions[0] is not sessions[1]
    assert db.session() not in sessions  # the worker's own context keeps neither
