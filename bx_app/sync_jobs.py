"""RQ jobs of the reference-data sync (M1): one credential now, or every installed credential on the schedule."""
from __future__ import annotations

import logging

from bx_app.jobs import QUEUE_SYNC, in_app_context, queue

log = logging.getLogger(__name__)
SCHEDULE_SECONDS = 30 * 60


@in_app_context
def sync_credential_job(credential_id: int, task_id: str | None = None) -> dict:
    from bx_app.reference_sync import sync_credential

    return sync_credential(credential_id, task_id)


@in_app_context
def sync_all_credentials() -> int:
    """The 30-minute schedule: queue one sync per installed credential (each with its own lock)."""
    from bx_app.reference_sync import syncable_credential_ids

    ids = syncable_credential_ids()
    for credential_id in ids:
        queue(QUEUE_SYNC).enqueue(sync_credential_job, credential_id, None, job_timeout=900)
    return len(ids)


@in_app_context
def sync_after_install(credential_id: int) -> str:
    """Call after an install (I1 or I2): a sync with a progress task, as the Main tab's button starts."""
    from bx_app.reference_sync import start_sync

    return start_sync(credential_id)
