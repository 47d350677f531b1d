"""Flask CLI commands of the app (run through `flask --app wsgi ...`): the worker and maintenance."""
from __future__ import annotations

import logging
import multiprocessing
import os

import click
from flask import Flask, current_app


def _run_cron(redis_url: str, poll_seconds: int, sweep_seconds: int) -> None:
    """The periodic schedule, in a child process of the worker command (RQ's own CronScheduler)."""
    from rq.cron import CronScheduler

    from bx_app import jobs
    from bx_app.extensions import redis_connection

    scheduler = CronScheduler(connection=redis_connection(redis_url))
    for func, queue_name, kwargs in jobs.periodic_jobs(poll_seconds, sweep_seconds):
        scheduler.register(func, queue_name, **kwargs)
    scheduler.start()


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
        queues = [Queue(name, connection=connection) for name in jobs.QUEUES]
        try:
            Worker(queues, connection=connection, name=f"bx-app-{os.getpid()}").work(
                burst=burst, with_scheduler=True, logging_level="INFO")
        finally:
            if cron is not None and cron.is_alive():
                cron.terminate()
                cron.join(5)
