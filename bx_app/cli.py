"""Flask CLI commands of the app (run through `flask --app wsgi ...`): the worker and maintenance."""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
import uuid

import click
from flask import Flask, current_app
from redis.exceptions import ConnectionError as RedisConnectionError


def _run_cron(redis_url: str, poll_seconds: int, sweep_seconds: int) -> None:
    """The periodic schedule, in a child process of the worker command (RQ's own CronScheduler).

    It outlives Redis restarts: a lost connection starts a fresh scheduler after a pause.
    """
    from rq.cron import CronScheduler

    from bx_app import jobs
    from bx_app.extensions import redis_connection

    while True:
        try:
            scheduler = CronScheduler(connection=redis_connection(redis_url))
            for func, queue_name, kwargs in jobs.periodic_jobs(poll_seconds, sweep_seconds):
                scheduler.register(func, queue_name, **kwargs)
            scheduler.start()
            return
        except RedisConnectionError as exc:
            logging.getLogger(__name__).warning("cron: Redis unavailable (%s); retrying in 2 s", exc)
            time.sleep(2)


def rq_logging_level() -> str:
    """RQ's per-job lines ("Job OK", "events: drain_portal(3)") are chatter: shown only with LOG_LEVEL=DEBUG."""
    return "DEBUG" if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG" else "WARNING"


def register_commands(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
    @click.option("--no-cron", is_flag=True, help="Do not start the periodic schedule.")
    def worker(burst: bool, no_cron: bool) -> None:
        """Start an RQ worker (with the scheduler for delayed retries) and the periodic schedule."""
        from rq import Queue, Worker

        from bx_app import jobs
        from bx_app.extensions import redis_connection

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        redis_url = current_app.config["REDIS_URL"]
        connection = redis_connection(redis_url)
        cron = None
        if not burst and not no_cron and hasattr(jobs, "periodic_jobs"):
            cron = multiprocessing.get_context("fork").Process(
                target=_run_cron, args=(redis_url, current_app.config["UIS_POLL_SECONDS"], current_app.config["SWEEP_SECONDS"]),
                name="bx-app-cron", daemon=True)
            cron.start()
        try:
            while True:
                try:
                    queues = [Queue(name, connection=connection) for name in jobs.QUEUES]
                    Worker(queues, connection=connection, name=f"bx-app-{os.getpid()}-{uuid.uuid4().hex[:6]}").work(
                        burst=burst, with_scheduler=True, logging_level=rq_logging_level())
                    break
                except RedisConnectionError as exc:
                    # Redis restarted or unreachable: the events are safe in the database (the sweeper
                    # re-queues them); wait for Redis instead of dying.
                    if burst:
                        raise
                    logging.getLogger(__name__).warning("Redis unavailable (%s); retrying in 2 s", exc)
                    time.sleep(2)
        finally:
            if cron is not None and cron.is_alive():
                cron.terminate()
                cron.join(5)
