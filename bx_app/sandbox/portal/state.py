"""The sandbox's shared in-memory world: the authorization servers, every portal, one lock around it all."""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from . import staff
from .crm import CrmStore
from .limits import FaultPlan, LeakyBucket
from .telephony import Telephony
from .tokens import DEFAULT_ACCESS_LIFETIME, AccessGrant, TokenRegistry, TokenStats

APP_SCOPE = "crm,user,im,telephony,placement"
APP_VERSION = 1
APP_CODE = "local.sandbox.uis20"
# Events a sandbox portal knows for event.bind; anything else is ERROR_EVENT_NOT_FOUND.
KNOWN_EVENTS = {
    "ONAPPINSTALL", "ONAPPUNINSTALL", "ONAPPUPDATE", "ONAPPPAYMENT", "ONCRMLEADADD", "ONCRMLEADUPDATE",
    "ONCRMLEADDELETE", "ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE", "ONCRMCONTACTADD",
    "ONCRMCONTACTUPDATE", "ONCRMACTIVITYADD", "ONEXTERNALCALLSTART", "ONEXTERNALCALLBACKSTART", "ONUSERADD",
}


GLOBAL_REGION = "global"  # plays oauth.bitrix.info
RU_REGION = "ru"  # plays oauth.bitrix24.tech


@dataclass
class AuthorizationServer:
    """One Bitrix24 authorization server (§2): it issues and refreshes the tokens of its own portals only."""

    region: str
    port: int
    public_host: str
    scheme: str = "http"
    stats: TokenStats = field(default_factory=TokenStats)

    @property
    def domain(self) -> str:
        return f"{self.public_host}:{self.port}"

    @property
    def server_endpoint(self) -> str:
        return f"{self.scheme}://{self.domain}/rest/"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"


def member_id_for(port: int) -> str:
    """Stable across restarts: the same port is always the same portal."""
    return hashlib.md5(f"uis-sandbox-portal:{port}".encode()).hexdigest()


@dataclass
class RequestCounters:
    rest_requests: int = 0
    rest_calls: int = 0  # sub-calls of batch included
    query_limit_exceeded: int = 0
    faults_served: int = 0
    by_method: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def as_json(self) -> dict:
        return {"rest_requests": self.rest_requests, "rest_calls": self.rest_calls,
                "query_limit_exceeded": self.query_limit_exceeded, "faults_served": self.faults_served,
                "by_method": dict(self.by_method), "errors": dict(self.errors)}


class PortalState:
    """One Bitrix24 portal: its app installation, users, CRM, limits and event bindings."""

    def __init__(self, port: int, public_host: str, *, region: str = GLOBAL_REGION, scheme: str = "http") -> None:
        self.port = port
        self.domain = f"{public_host}:{port}"
        self.member_id = member_id_for(port)
        self.scheme = scheme
        self.client_endpoint = f"{scheme}://{self.domain}/rest/"
        self.region = region
        self.reset()

    def reset(self) -> None:
        self.users = staff.seed_users()
        self.crm = CrmStore()
        self.telephony = Telephony()
        self.installed = False
        self.ever_installed = False
        self.application_token = ""
        self.scope = APP_SCOPE
        self.language = "ru"
        self.bucket = LeakyBucket()
        self.faults = FaultPlan()
        self.counters = RequestCounters()
        self.bound_events: list[dict] = []
        self.placements: list[dict] = []
        self.next_handler_id = 0
        self.deliveries: list[dict] = []
        self.token_lifetime = DEFAULT_ACCESS_LIFETIME
        self.pending_installs: dict[str, dict] = {}  # APP_SID -> {"user_id", "lang"}

    @property
    def admin_ids(self) -> set[int]:
        return {uid for uid in staff.ADMIN_IDS if uid in self.users}

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids

    def ensure_application_token(self) -> str:
        """Generated when an install starts; kept across re-installs (a real portal may issue a new one)."""
        if not self.application_token:
            self.application_token = secrets.token_hex(16)
        return self.application_token

    def mark_installed(self) -> None:
        self.installed = True
        self.ever_installed = True
        self.ensure_application_token()

    def bind_event(self, event: str, handler: str, auth_type: str = "0", offline: int = 0) -> dict:
        self.next_handler_id += 1
        binding = {"id": self.next_handler_id, "event": event, "handler": handler, "auth_type": auth_type,
                   "offline": offline}
        self.bound_events.append(binding)
        return binding

    def as_json(self, now: float) -> dict:
        return {
            "domain": self.domain, "member_id": self.member_id, "client_endpoint": self.client_endpoint,
            "region": self.region, "installed": self.installed, "application_token": self.application_token, "scope": self.scope,
            "language": self.language, "token_lifetime": self.token_lifetime,
            "bucket": self.bucket.as_json(now), "counters": self.counters.as_json(),
            "faults": [f.as_json() for f in self.faults.faults],
            "bound_events": [dict(b) for b in self.bound_events],
            "placements": [dict(p) for p in self.placements],
            "event_deliveries": [dict(d) for d in self.deliveries],
            "users": list(self.users.values()),
            **self.crm.as_json(),
            **self.telephony.as_json(),
        }


class SandboxState:
    """Everything the sandbox servers share; hold `lock` while reading or changing it."""

    def __init__(self, *, app_url: str, client_id: str, client_secret: str, oauth_port: int,
                 portal_ports: list[int], public_host: str = "127.0.0.1",
                 clock: Callable[[], float] = time.time, ru_oauth_port: int | None = None,
                 ru_portal_ports: list[int] | None = None, scheme: str = "http") -> None:
        self.lock = threading.RLock()
        self.app_url = app_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.oauth_port = oauth_port
        self.public_host = public_host
        self.scheme = scheme
        self.clock = clock
        self.tokens = TokenRegistry()
        self.servers: dict[str, AuthorizationServer] = {
            GLOBAL_REGION: AuthorizationServer(GLOBAL_REGION, oauth_port, public_host, scheme)}
        if ru_oauth_port:
            self.servers[RU_REGION] = AuthorizationServer(RU_REGION, ru_oauth_port, public_host, scheme)
        ru_ports = set(ru_portal_ports or []) if ru_oauth_port else set()
        unknown = ru_ports - set(portal_ports)
        if unknown:
            raise ValueError(f"RU portal ports {sorted(unknown)} are not portal ports")
        self.portals: dict[int, PortalState] = {
            p: PortalState(p, public_host, region=RU_REGION if p in ru_ports else GLOBAL_REGION, scheme=scheme)
            for p in portal_ports}
        self.event_sender: Callable[[PortalState, str, dict], None] | None = None
        # Makes one more portal (port 0: any free one) and serves it; see bx_app.sandbox.portal.add_portals.
        self.portal_launcher: Callable[[int, str], PortalState] | None = None
        self.portal_apps: dict[int, object] = {}  # port -> its WSGI app

    def add_portals(self, count: int = 1, *, region: str = GLOBAL_REGION,
                    ports: list[int] | None = None) -> list[PortalState]:
        """More portals in this process (the control API's POST /sandbox/portals): each its own CRM,
        users, tokens and 2 req/s, burst 50 bucket, served on its own port by `portal_launcher`.
        Call without the lock: launching takes it."""
        if self.portal_launcher is None:
            raise ValueError("this sandbox cannot serve new portals")
        wanted = [int(p) for p in ports] if ports else [0] * int(count)
        if not 0 < len(wanted) <= 200:
            raise ValueError("count is 1..200")
        return [self.portal_launcher(port, region) for port in wanted]

    def new_portal(self, port: int, region: str = GLOBAL_REGION) -> PortalState:
        """A portal on `port` belonging to `region`'s server. Caller holds the lock."""
        if port in self.portals:
            raise ValueError(f"port {port} already has a portal")
        if region not in self.servers:
            raise ValueError(f"no {region!r} authorization server in this sandbox")
        portal = PortalState(port, self.public_host, region=region, scheme=self.scheme)
        self.portals[port] = portal
        return portal

    @property
    def global_server(self) -> AuthorizationServer:
        return self.servers[GLOBAL_REGION]

    @property
    def oauth_domain(self) -> str:
        """The global server's host (the one B24_OAUTH_URL points at)."""
        return self.global_server.domain

    @property
    def server_endpoint(self) -> str:
        return self.global_server.server_endpoint

    def server_of(self, portal: PortalState) -> AuthorizationServer:
        """The authorization server a portal belongs to: its tokens are issued and refreshed only there."""
        return self.servers[portal.region]

    def now(self) -> float:
        return self.clock()

    def portal_by_member(self, member_id: str) -> PortalState | None:
        return next((p for p in self.portals.values() if p.member_id == member_id), None)

    def issue_grant(self, portal: PortalState, user_id: int) -> AccessGrant:
        return self.tokens.issue(port=portal.port, member_id=portal.member_id, user_id=user_id,
                                 lifetime=portal.token_lifetime, now=self.now())

    def token_response(self, grant: AccessGrant) -> dict:
        """The token endpoint's success body, key order as in oauth_token_response.json."""
        portal = self.portals[grant.port]
        server = self.server_of(portal)
        return {
            "access_token": grant.access_token, "expires": int(grant.expires_at), "expires_in": grant.lifetime,
            "scope": portal.scope, "domain": server.domain, "server_endpoint": server.server_endpoint,
            "status": "L", "client_endpoint": portal.client_endpoint, "member_id": portal.member_id,
            "user_id": grant.user_id, "refresh_token": grant.refresh_token,
        }

    def auth_fields(self, portal: PortalState, grant: AccessGrant, *, with_user: bool = True) -> dict:
        """`auth[...]` of an event delivery (onappinstall_event.json)."""
        fields = {
            "auth[access_token]": grant.access_token, "auth[expires]": str(int(grant.expires_at)),
            "auth[expires_in]": str(grant.lifetime), "auth[scope]": portal.scope, "auth[domain]": portal.domain,
            "auth[server_endpoint]": self.server_of(portal).server_endpoint, "auth[status]": "L",
            "auth[client_endpoint]": portal.client_endpoint, "auth[member_id]": portal.member_id,
            "auth[user_id]": str(grant.user_id), "auth[refresh_token]": grant.refresh_token,
            "auth[application_token]": portal.application_token,
        }
        if not with_user:
            fields.pop("auth[user_id]")
        return fields

    def iframe_form(self, portal: PortalState, grant: AccessGrant, placement: str = "DEFAULT",
                    placement_options: str = "{}") -> dict:
        """The body of an iframe POST (install_iframe_post.json): every value a string."""
        return {
            "AUTH_ID": grant.access_token, "AUTH_EXPIRES": str(grant.lifetime), "REFRESH_ID": grant.refresh_token,
            "SERVER_ENDPOINT": self.server_of(portal).server_endpoint, "APPLICATION_TOKEN": portal.application_token,
            "APPLICATION_SCOPE": portal.scope, "member_id": portal.member_id, "status": "L",
            "PLACEMENT": placement, "PLACEMENT_OPTIONS": placement_options,
        }
