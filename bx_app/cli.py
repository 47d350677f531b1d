"""Flask CLI commands of the app (run through `flask --app wsgi ...`): the worker, the scheduler, maintenance."""
from __future__ import annotations

import logging
import os
import time
import uuid

import click
from flask import Flask, current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler

from bx_app import jobs, queues
from bx_app.extensions import redis_connection
from bx_app.key_rotation import register_key_commands

log = logging.getLogger(__name__)


def run_scheduler(redis_url: str, poll_seconds: int, sweep_seconds: int) -> None:
    """The deployment's periodic schedule (RQ's CronScheduler), in the foreground.

    It outlives Redis restarts: a lost connection starts a fresh scheduler after a pause.
    """
    while True:
        try:
            scheduler = CronScheduler(connection=redis_connection(redis_url))
            for func, queue_name, kwargs in jobs.periodic(poll_seconds, sweep_seconds):
                scheduler.register(func, queue_name, **kwargs)
            scheduler.start()
            return
        except RedisConnectionError as exc:
            log.warning("scheduler: Redis unavailable (%s); retrying in 2 s", exc)
            time.sleep(2)


def rq_logging_level() -> str:
    """RQ's per-job lines ("Job OK", "events: drain_portal(3)") are chatter: shown only with LOG_LEVEL=DEBUG."""
    return "DEBUG" if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG" else "WARNING"


def _logging() -> None:
    level = getattr(logging, os.environ.get("LOG_LEVEL", "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register_commands(app: Flask) -> None:
    register_key_commands(app)

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
    @click.option("--fork", is_flag=True,
                  help="Fork a work horse per job (RQ's default) instead of running jobs in this process.")
    def worker(burst: bool, fork: bool) -> None:
        """Start an RQ worker (with RQ's scheduler for delayed retries); the periodic schedule is `scheduler`.

        Jobs run in the worker's own process by default: a drain job is a few milliseconds of work for one
        event, and a fork per job (with a new database connection in each work horse) cost more than the
        work itself (benchmarks/e2e.py). Each job still gets a fresh app context and database session
        (bx_app.jobs.in_app_context); a job that hangs is stopped by its timeout either way.
        """
        _logging()
        connection = redis_connection(current_app.config["REDIS_URL"])
        worker_class = Worker if fork else SimpleWorker
        while True:
            try:
                worker_class([Queue(name, connection=connection) for name in queues.ALL], connection=connection,
                             name=f"bx-app-{os.getpid()}-{uuid.uuid4().hex[:6]}").work(
                    burst=burst, with_scheduler=True, logging_level=rq_logging_level())
                return
            except RedisConnectionError as exc:
                # Redis restarted or unreachable: the events are safe in the database (the sweeper
                # re-queues them); wait for Redis instead of dying.
                if burst:
                    raise
                log.warning("Redis unavailable (%s); retrying in 2 s", exc)
                time.sleep(2)

    @app.cli.command("scheduler")
    def scheduler() -> None:
        """Run the periodic schedule: one process per deployment (polls, sweeper, token keep-alive, sync)."""
        _logging()
        run_scheduler(current_app.config["REDIS_URL"], current_app.config["UIS_POLL_SECONDS"],
                      current_app.config["SWEEP_SECONDS"])
