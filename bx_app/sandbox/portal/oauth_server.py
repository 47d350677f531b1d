"""An authorization server (plays oauth.bitrix.info or oauth.bitrix24.tech): /oauth/token/, /rest/app.info, stats.

Each portal belongs to one server (§2: "take the host from server_endpoint"); a code, refresh token or access
token of another server's portal is unknown here, as it would be to the real one: invalid_grant at the token
endpoint, invalid_token at app.info."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, jsonify, request

from .crm import PORTAL_TZ
from .rest import time_block
from .state import APP_VERSION, GLOBAL_REGION, AuthorizationServer, SandboxState
from .tokens import TokenStats


def _oauth_error(status: int, error: str, description: str | None = None):
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    return jsonify(body), status


def _stats(state: SandboxState, server: AuthorizationServer) -> TokenStats:
    # The global server's counters stay where tests and benchmarks have always read them.
    return state.tokens.stats if server.region == GLOBAL_REGION else server.stats


def create_oauth_app(state: SandboxState, region: str = GLOBAL_REGION) -> Flask:
    server = state.servers[region]
    app = Flask(f"bx24_sandbox_oauth_{region}")
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    @app.route("/oauth/token/", methods=["GET", "POST"])
    @app.route("/oauth/token", methods=["GET", "POST"])
    def token():
        values = request.values
        grant_type = values.get("grant_type", "")
        with state.lock:
            stats = _stats(state, server)
            stats.token_requests[grant_type or "(none)"] = stats.token_requests.get(grant_type or "(none)", 0) + 1
            response = _token_exchange(state, server, values, grant_type)
            if response[1] != 200 or "error" in response[0].get_json():
                code = response[0].get_json().get("error", "?")
                stats.token_errors[code] = stats.token_errors.get(code, 0) + 1
            return response

    # b24pysdk asks `/rest/app.info/` (trailing slash); the docs write it without.
    @app.route("/rest/app.info", methods=["GET", "POST"])
    @app.route("/rest/app.info/", methods=["GET", "POST"])
    @app.route("/rest/app.info.json", methods=["GET", "POST"])
    def app_info():
        token_value = request.values.get("auth") or (request.get_json(silent=True) or {}).get("auth")
        start = state.now()
        with state.lock:
            _stats(state, server).app_info_requests += 1
            grant = state.tokens.by_access.get(token_value or "")
            if not token_value:
                return _oauth_error(401, "NO_AUTH_FOUND", "Wrong authorization data")
            if grant is not None and state.portals[grant.port].region != server.region:
                grant = None  # another server's token: unknown here
            if grant is None or grant.access_revoked == "uninstalled":
                return _oauth_error(401, "invalid_token", "Unable to get application by token")
            if grant.access_revoked or start >= grant.expires_at:
                return _oauth_error(401, "expired_token", "The access token provided has expired.")
            portal = state.portals[grant.port]
            result = {
                "client_id": state.client_id,
                "scope": portal.scope,
                "expires": datetime.fromtimestamp(grant.expires_at, PORTAL_TZ).isoformat(timespec="seconds"),
                "install": {
                    "installed": portal.installed, "version": APP_VERSION, "status": "L", "scope": portal.scope,
                    "domain": portal.domain, "uri": f"{portal.scheme}://{portal.domain}",
                    "client_endpoint": portal.client_endpoint, "member_id": portal.member_id,
                    "member_type": "company",
                },
                "user_id": grant.user_id,
            }
            return jsonify({"result": result, "time": time_block(start, state.now())})

    @app.get("/sandbox/stats.json")
    def stats():
        with state.lock:
            mine = [p for p in state.portals.values() if p.region == server.region]
            body = _stats(state, server).as_json()
            body["region"] = server.region
            body["server_endpoint"] = server.server_endpoint
            body["live_grants"] = sum(1 for g in state.tokens.by_access.values()
                                      if not g.access_revoked and g.expires_at > state.now()
                                      and state.portals[g.port].region == server.region)
            body["portals"] = {str(p.port): {"domain": p.domain, "member_id": p.member_id, "installed": p.installed}
                               for p in mine}
            return jsonify(body)

    @app.post("/sandbox/control")
    def control():
        data = request.get_json(silent=True) or {}
        with state.lock:
            if data.get("reset_stats") or data.get("reset"):
                if server.region == GLOBAL_REGION:
                    state.tokens.reset_stats()
                else:
                    server.stats = TokenStats()
            return jsonify(_stats(state, server).as_json())

    @app.get("/sandbox/portals")
    def portals():
        with state.lock:
            return jsonify({"portals": [_portal_summary(p) for p in state.portals.values()]})

    @app.post("/sandbox/portals")
    def add_portals():
        """Create portals on the fly (many portals, one process): {"count": 20} or {"ports": [...]};
        they belong to this server's region unless {"region": ...} says otherwise."""
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return jsonify({"error": "send a JSON object"}), 400
        try:
            created = state.add_portals(int(data.get("count", 1)), region=str(data.get("region") or server.region),
                                        ports=data.get("ports"))
        except (ValueError, TypeError, OSError) as exc:
            return jsonify({"error": str(exc)}), 400
        with state.lock:
            return jsonify({"portals": [_portal_summary(p) for p in created]}), 201

    @app.get("/")
    def index():
        return jsonify({"service": f"Bitrix24 sandbox authorization server ({server.region})",
                        "server_endpoint": server.server_endpoint, "token_url": "/oauth/token/",
                        "app_info_url": "/rest/app.info", "stats_url": "/sandbox/stats.json"})

    return app


def _portal_summary(portal) -> dict:
    return {"port": portal.port, "domain": portal.domain, "member_id": portal.member_id,
            "client_endpoint": portal.client_endpoint, "url": portal.client_endpoint[: -len("rest/")],
            "region": portal.region, "installed": portal.installed}


def _token_exchange(state: SandboxState, server: AuthorizationServer, values, grant_type: str):
    client_id, client_secret = values.get("client_id", ""), values.get("client_secret", "")
    if grant_type not in ("authorization_code", "refresh_token"):
        return _oauth_error(400, "invalid_request", "Unsupported grant_type")
    if client_id != state.client_id:
        return _oauth_error(200, "wrong_client")  # oauth_token_errors.json: unknown client_id answers HTTP 200
    if client_secret != state.client_secret:
        return _oauth_error(400, "invalid_client", "Invalid client")
    now = state.now()
    if grant_type == "authorization_code":
        code_value = values.get("code", "")
        if not code_value:
            return _oauth_error(400, "invalid_request", 'No "code" parameter found')
        code = state.tokens.take_code(code_value, now, accept=lambda c: state.portals[c.port].region == server.region)
        if code is None:
            return _oauth_error(400, "invalid_grant", "Invalid grant")
        portal = state.portals[code.port]
        if not portal.installed:
            return _oauth_error(401, "NOT_INSTALLED", "Application not installed")
        grant = state.issue_grant(portal, code.user_id)
        return jsonify(state.token_response(grant)), 200
    refresh_value = values.get("refresh_token", "")
    if not refresh_value:
        return _oauth_error(400, "invalid_request", 'No "refresh_token" parameter found')
    old = state.tokens.by_refresh.get(refresh_value)
    if old is not None and state.portals[old.port].region != server.region:
        return _oauth_error(400, "invalid_grant", "Invalid grant")  # another server's token is unknown here
    if old is not None and old.refresh_revoked and not state.portals[old.port].installed:
        return _oauth_error(401, "NOT_INSTALLED", "Application not installed")
    old = state.tokens.take_refresh(refresh_value, now)
    if old is None:
        return _oauth_error(400, "invalid_grant", "Invalid grant")
    grant = state.issue_grant(state.portals[old.port], old.user_id)
    return jsonify(state.token_response(grant)), 200
