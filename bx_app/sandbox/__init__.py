"""Local stand-ins for Bitrix24 and UIS, for development, the demo run and end-to-end tests (never production)."""
from __future__ import annotations


def create_sandbox(app_url: str, client_id: str, client_secret: str, oauth_port: int, portal_ports):
    """See bx_app.sandbox.portal.create_sandbox: (oauth_app, {port: portal_app}, state)."""
    from .portal import create_sandbox as create

    return create(app_url, client_id, client_secret, oauth_port, portal_ports)
