"""The engine against the sandbox portal and UIS Data API, routed in-process (no sockets)."""
from __future__ import annotations

import pytest

from bx_app.devkit.sandbox_world import connected_sandbox
from bx_app.devkit.world import World
from bx_app.engine import write
from bx_app.settings_store import save_channel


@pytest.fixture
def world(app, monkeypatch):
    monkeypatch.setattr(write.time, "sleep", lambda s: None)
    with connected_sandbox(app, rate_per_second=1000, bucket_size=1000) as sandbox:
        world = World(app, sandbox.state, sandbox.uis_app, sandbox.credential.id, sandbox.portal.id)
        save_channel(sandbox.credential.id, "main", True, {"default_responsible_id": 1})
        sandbox.portal_state.bucket.enabled = False
        yield world
