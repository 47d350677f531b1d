"""A stand-in for Bitrix24: the authorization servers and portals, sharing one in-memory state."""
from __future__ import annotations

from flask import Flask

from .oauth_server import create_oauth_app
from .portal_site import create_portal_app
from .state import GLOBAL_REGION, RU_REGION, SandboxState


def create_sandbox(app_url: str, client_id: str, client_secret: str, oauth_port: int, portal_ports,
                   *, public_host: str = "127.0.0.1", ru_oauth_port: int | None = None,
                   ru_portal_ports=None, scheme: str = "http") -> tuple[Flask, dict[int, Flask], SandboxState]:
    """The global OAuth server app, one app per portal port, and their shared state (for Flask test clients
    too). With `ru_oauth_port`, a second (Russian) authorization server exists: `create_oauth_app(state, "ru")`
    serves it, and the portals in `ru_portal_ports` belong to it."""
    ports = [int(p) for p in portal_ports]
    state = SandboxState(app_url=app_url, client_id=client_id, client_secret=client_secret,
                         oauth_port=int(oauth_port), portal_ports=ports, public_host=public_host,
                         ru_oauth_port=int(ru_oauth_port) if ru_oauth_port else None,
                         ru_portal_ports=[int(p) for p in ru_portal_ports or []], scheme=scheme)
    oauth_app = create_oauth_app(state)
    portal_apps = {port: create_portal_app(state, port) for port in ports}
    return oauth_app, portal_apps, state


__all__ = ["GLOBAL_REGION", "RU_REGION", "SandboxState", "create_oauth_app", "create_sandbox"]
