"""A stand-in for Bitrix24: the authorization servers and portals, sharing one in-memory state."""
from __future__ import annotations

from flask import Flask

from .oauth_server import create_oauth_app
from .portal_site import create_portal_app
from .state import GLOBAL_REGION, RU_REGION, PortalState, SandboxState


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
    state.portal_apps = dict(portal_apps)

    def launch_in_memory(port: int, region: str) -> PortalState:
        # No servers here (Flask test clients): the next free number, its app kept for a test client.
        with state.lock:
            port = port or max([*state.portals, 0]) + 1
            portal = state.new_portal(port, region)
        state.portal_apps[port] = create_portal_app(state, port)
        return portal

    state.portal_launcher = launch_in_memory
    return oauth_app, portal_apps, state


def add_portals(state: SandboxState, count: int = 1, *, region: str = GLOBAL_REGION,
                ports: list[int] | None = None) -> list[PortalState]:
    """See SandboxState.add_portals."""
    return state.add_portals(count, region=region, ports=ports)


__all__ = ["GLOBAL_REGION", "RU_REGION", "SandboxState", "add_portals", "create_oauth_app", "create_portal_app",
           "create_sandbox"]
