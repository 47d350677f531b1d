"""Progress of background tasks (retry all failed events, manual sync) as one Redis hash per task id.

A task is a hash `bx:task:<id>` with `kind`, `scope`, `state`, `total`, `done`, `message`, `started_at`,
`updated_at`; it lives for `TTL_SECONDS` after its last update. `scope` ties a task to what it works on
(e.g. "credential:5") so a page can check ownership and find the latest task of that scope
(`remember` / `latest`) to show its state on reload, with or without JavaScript.
Words are the page's business: the hash holds only state and numbers (and a raw error message).
"""
from __future__ import annotations

import secrets
import time

from redis import Redis

from bx_app.extensions import redis_connection

TTL_SECONDS = 3600

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
FINISHED = (DONE, FAILED)

_FIELDS = ("kind", "scope", "state", "message")
_NUMBERS = ("total", "done", "started_at", "updated_at")


def _key(task_id: str) -> str:
    return f"bx:task:{task_id}"


def _latest_key(scope: str, kind: str) -> str:
    return f"bx:task-latest:{kind}:{scope}"


def _redis(connection: Redis | None) -> Redis:
    return connection if connection is not None else redis_connection()


def start_task(kind: str, scope: str = "", total: int = 0, connection: Redis | None = None) -> str:
    """Create a queued task and return its id (url-safe, unguessable)."""
    task_id = secrets.token_urlsafe(12)
    now = int(time.time())
    redis = _redis(connection)
    pipe = redis.pipeline()
    pipe.hset(_key(task_id), mapping={
        "kind": kind, "scope": scope, "state": QUEUED, "total": int(total), "done": 0, "message": "",
        "started_at": now, "updated_at": now,
    })
    pipe.expire(_key(task_id), TTL_SECONDS)
    pipe.execute()
    return task_id


def update(task_id: str, *, state: str | None = None, total: int | None = None, done: int | None = None,
           advance: int = 0, message: str | None = None, connection: Redis | None = None) -> None:
    """Set any of state / total / done / message, or advance `done` atomically; refreshes the TTL."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown task state {state!r}")
    fields: dict[str, str | int] = {"updated_at": int(time.time())}
    if state is not None:
        fields["state"] = state
    if total is not None:
        fields["total"] = int(total)
    if done is not None:
        fields["done"] = int(done)
    if message is not None:
        fields["message"] = message[:1000]
    redis = _redis(connection)
    pipe = redis.pipeline()
    pipe.hset(_key(task_id), mapping=fields)
    if advance:
        pipe.hincrby(_key(task_id), "done", int(advance))
    pipe.expire(_key(task_id), TTL_SECONDS)
    pipe.execute()


def finish(task_id: str, message: str = "", connection: Redis | None = None) -> None:
    """Mark the task done with everything counted (done = total)."""
    task = read(task_id, connection=connection)
    total = task["total"] if task else 0
    update(task_id, state=DONE, done=max(total, task["done"] if task else 0), message=message,
           connection=connection)


def fail(task_id: str, message: str, connection: Redis | None = None) -> None:
    update(task_id, state=FAILED, message=message, connection=connection)


def read(task_id: str, connection: Redis | None = None) -> dict | None:
    """The task as plain data (with `percent` and `finished`), or None when unknown or expired."""
    raw = _redis(connection).hgetall(_key(task_id))
    if not raw:
        return None
    data = {k.decode(): v.decode() for k, v in raw.items()}
    task: dict = {"id": task_id}
    for name in _FIELDS:
        task[name] = data.get(name, "")
    for name in _NUMBERS:
        try:
            task[name] = int(data.get(name) or 0)
        except ValueError:
            task[name] = 0
    total, done = task["total"], task["done"]
    if task["state"] == DONE:
        task["percent"] = 100
    else:
        task["percent"] = min(100, int(done * 100 / total)) if total else 0
    task["finished"] = task["state"] in FINISHED
    return task


def remember(scope: str, kind: str, task_id: str, connection: Redis | None = None) -> None:
    """Make this the latest task of its kind for a scope (what a page shows after a reload)."""
    _redis(connection).set(_latest_key(scope, kind), task_id, ex=TTL_SECONDS)


def latest(scope: str, kind: str, connection: Redis | None = None) -> dict | None:
    """The latest task of this kind for the scope, if it has not expired."""
    task_id = _redis(connection).get(_latest_key(scope, kind))
    if not task_id:
        return None
    return read(task_id.decode(), connection=connection)


def is_running(task: dict | None) -> bool:
    return bool(task) and not task["finished"]
