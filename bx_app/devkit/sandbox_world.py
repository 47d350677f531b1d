"""A stored credential wired to the sandbox portal and UIS Data API, routed in-process (no sockets)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import responses

from bx_app.devkit.wsgi_bridge import mount
from bx_app.extensions import db
from bx_app.models import Credential, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.sandbox.portal import create_sandbox
from bx_app.sandbox.uis import create_uis_app

UIS = "https://dataapi.uiscom.ru"
PORTAL = "http://127.0.0.1:8081"
OAUTH = "http://127.0.0.1:8090"


@dataclass
class ConnectedSandbox:
    state: object  # the sandbox's shared state (OAuth server and portals)
    portal_state: object  # the one portal, installed, with a token pair issued for user 1
    uis_app: object
    credential: Credential
    portal: Portal


@contextmanager
def connected_sandbox(app, **portal_fields) -> Iterator[ConnectedSandbox]:
    """The portal (its app installed) and UIS account 1103425 as if connected; `portal_fields` go on the row."""
    app.config["B24_OAUTH_URL"] = f"{OAUTH}/oauth/token/"
    oauth_app, portal_apps, state = create_sandbox("http://localhost:8000", app.config["B24_CLIENT_ID"],
                                                   app.config["B24_CLIENT_SECRET"], 8090, [8081])
    portal_state = state.portals[8081]
    portal_state.mark_installed()
    tokens = state.token_response(state.issue_grant(portal_state, 1))
    uis_app = create_uis_app()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # The app itself at its public URL: the sandbox UIS delivers notifications to its hook in-process too.
        mount(rsps, {UIS: uis_app, PORTAL: portal_apps[8081], OAUTH: oauth_app, "http://localhost:8000": app})
        account = UisAccount(app_id=1103425, name="ООО «Пример»", data_api_token="sandbox-uis-token")
        portal = Portal(member_id=tokens["member_id"], domain="127.0.0.1:8081",
                        client_endpoint=tokens["client_endpoint"], access_token=tokens["access_token"],
                        refresh_token=tokens["refresh_token"], expires_at=utcnow() + timedelta(hours=1),
                        status=PortalStatus.INSTALLED, installer_user_id=1, **portal_fields)
        credential = Credential(name="Пример", portal=portal, uis_account=account)
        db.session.add_all([account, portal, credential])
        db.session.commit()
        yield ConnectedSandbox(state, portal_state, uis_app, credential, portal)
