"""Marketplace install, iframe verification and uninstall: who is this portal, and is it really Bitrix24."""
from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from bx_app import personal_data
from bx_app.bitrix.client import PortalClient
from bx_app.bitrix.errors import BitrixError, NetworkError
from bx_app.bitrix.oauth import OAuthServer
from bx_app.config import TRUSTED_OAUTH_SERVERS
from bx_app.extensions import db
from bx_app.models import Credential, InstallClaim, Portal
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.outbound import AddressForbidden, OutboundPolicy

log = logging.getLogger(__name__)

_DOMAIN_RE = re.compile(r"^(?=.{1,253}(?::\d{1,5})?$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$")
_MEMBER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class InstallRejected(Exception):
    """A portal request we refuse: status is the HTTP status to answer, reason says why in plain words."""

    def __init__(self, status: int, reason):
        super().__init__(str(reason))
        self.status = status
        self.reason = reason  # a lazy string: rendered in the language of the page that shows it


@dataclass
class PortalAuth:
    """What a portal POST (iframe or event) claims about itself, before verification."""

    member_id: str
    domain: str
    secure: bool
    access_token: str
    refresh_token: str | None
    expires_in: int
    server_endpoint: str | None
    application_token: str | None
    scope: str | None
    lang: str
    client_endpoint: str | None = None


class StaticToken:
    """A token source for one request's own AUTH_ID: it cannot be refreshed."""

    def __init__(self, token: str):
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh(self, stale_access_token: str) -> str:
        raise InstallRejected(401, _l("Токен портала для этого запроса истёк: откройте приложение заново."))


def _required(source, name: str) -> str:
    value = (source.get(name) or "").strip()
    if not value:
        raise InstallRejected(400, _l("Не хватает поля: %(name)s", name=name))
    return value


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_iframe_post(args, form) -> PortalAuth:
    """The installer/app iframe POST: DOMAIN, PROTOCOL, LANG in the query, the rest in the form body."""
    domain = _required(args if args.get("DOMAIN") else form, "DOMAIN").lower()
    protocol = (args.get("PROTOCOL") or form.get("PROTOCOL") or "1").strip()
    return PortalAuth(
        member_id=_required(form, "member_id"),
        domain=domain,
        secure=protocol == "1",
        access_token=_required(form, "AUTH_ID"),
        refresh_token=(form.get("REFRESH_ID") or "").strip() or None,
        expires_in=_int(form.get("AUTH_EXPIRES"), 3600),
        server_endpoint=(form.get("SERVER_ENDPOINT") or "").strip() or None,
        application_token=(form.get("APPLICATION_TOKEN") or "").strip() or None,
        scope=(form.get("APPLICATION_SCOPE") or "").strip() or None,
        lang=(args.get("LANG") or form.get("LANG") or "ru").strip().lower()[:8],
    )


def parse_event_auth(form) -> PortalAuth:
    """The `auth[...]` part of an outbound event POST (ONAPPINSTALL carries tokens, others do not)."""
    member_id = _required(form, "auth[member_id]")
    domain = _required(form, "auth[domain]").lower()
    client_endpoint = (form.get("auth[client_endpoint]") or "").strip() or None
    secure = not client_endpoint or client_endpoint.startswith("https://")
    return PortalAuth(
        member_id=member_id,
        domain=domain,
        secure=secure,
        access_token=(form.get("auth[access_token]") or "").strip(),
        refresh_token=(form.get("auth[refresh_token]") or "").strip() or None,
        expires_in=_int(form.get("auth[expires_in]"), 3600),
        server_endpoint=(form.get("auth[server_endpoint]") or "").strip() or None,
        application_token=(form.get("auth[application_token]") or "").strip() or None,
        scope=(form.get("auth[scope]") or "").replace(" ", ",").strip() or None,
        lang=(form.get("data[LANGUAGE_ID]") or "ru").strip().lower()[:8],
        client_endpoint=client_endpoint,
    )


def _is_loopback_or_private(host: str) -> bool:
    """A host that is internal in any spelling (127.1, 0x7f.0.0.1, [::ffff:10.0.0.1], localhost…)."""
    try:
        OutboundPolicy(allow_insecure=False).check_host_literal(host)
    except AddressForbidden:
        return True
    return False


def address_refusal(exc: AddressForbidden):
    """The user's words for a refused outbound address (the policy itself knows no languages)."""
    if exc.reason == "insecure_scheme":
        return _l("Портал должен работать по HTTPS.")
    if exc.reason == "internal":
        return _l("Адрес %(host)s ведёт в локальную или частную сеть: приложение не обращается к таким адресам. "
                  "Укажите адрес портала в интернете.", host=exc.host)
    if exc.reason == "unresolvable":
        return _l("Адрес %(host)s не найден (DNS). Проверьте адрес портала.", host=exc.host)
    return _l("Это не адрес портала: %(domain)s", domain=repr(exc.host))


def portal_endpoint(domain: str, secure: bool, allow_insecure: bool) -> str:
    """The portal's REST endpoint, refusing http and internal portals unless development allows them."""
    if not _DOMAIN_RE.match(domain):
        raise InstallRejected(400, _l("Это не адрес портала: %(domain)s", domain=repr(domain)))
    host = domain.rsplit(":", 1)[0] if ":" in domain else domain
    if not allow_insecure:
        if not secure:
            raise InstallRejected(400, _l("Портал должен работать по HTTPS."))
        try:
            OutboundPolicy(allow_insecure=False).check_host_literal(host)
        except AddressForbidden as exc:
            raise InstallRejected(400, address_refusal(exc)) from None
    scheme = "https" if secure else "http"
    return f"{scheme}://{domain}/rest/"


def address_policy(config) -> OutboundPolicy:
    """The outbound-address policy of this deployment (lifted only in development)."""
    return OutboundPolicy(allow_insecure=bool(config.get("B24_ALLOW_INSECURE_PORTALS")))


def check_endpoint(endpoint: str, allow_insecure: bool) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InstallRejected(400, _l("Это не адрес REST API портала: %(endpoint)s", endpoint=repr(endpoint)))
    portal_endpoint(parts.netloc.lower(), parts.scheme == "https", allow_insecure)
    return endpoint if endpoint.endswith("/") else endpoint + "/"


class UntrustedOAuthServer(Exception):
    """A consent redirect names an authorization server that is not one of ours."""

    def __init__(self, server_domain: str):
        super().__init__(server_domain)
        self.server_domain = server_domain


def trusted_token_urls(config) -> list[str]:
    """Every authorization server we may ask: Bitrix24's two regions, the configured one and any extra
    configured for development (the sandbox's regions)."""
    urls = [base + "oauth/token/" for base in TRUSTED_OAUTH_SERVERS.values()]
    return urls + [config["B24_OAUTH_URL"], *(config.get("B24_EXTRA_OAUTH_URLS") or ())]


def oauth_token_url(server_endpoint: str | None, config) -> str:
    """The authorization server to ask: one of ours, selected (never named) by the POSTed SERVER_ENDPOINT."""
    if server_endpoint:
        wanted = urlsplit(server_endpoint.strip())
        for token_url in trusted_token_urls(config):
            known = urlsplit(token_url)
            if (known.scheme, known.netloc.lower()) == (wanted.scheme.lower(), wanted.netloc.lower()) \
                    and wanted.path.rstrip("/") == "/rest":
                return token_url
    return config["B24_OAUTH_URL"]


def oauth_token_url_for_domain(server_domain: str | None, config) -> str:
    """Where a consent code is exchanged: the portal's own region server, named by the redirect's
    `server_domain`, when it is one of ours; none named → the configured one. Raises UntrustedOAuthServer."""
    wanted = (server_domain or "").strip().lower()
    if not wanted:
        return config["B24_OAUTH_URL"]
    for token_url in trusted_token_urls(config):
        if urlsplit(token_url).netloc.lower() == wanted:
            return token_url
    raise UntrustedOAuthServer(server_domain)


def oauth_server(config, server_endpoint: str | None = None, *, server_domain: str | None = None) -> OAuthServer:
    token_url = (oauth_token_url_for_domain(server_domain, config) if server_domain
                 else oauth_token_url(server_endpoint, config))
    return OAuthServer(token_url, config["B24_CLIENT_ID"], config["B24_CLIENT_SECRET"])


def verify_portal_auth(auth: PortalAuth, config) -> dict:
    """Ask the authorization server's app.info whether this token is ours and belongs to this portal."""
    if not _MEMBER_ID_RE.match(auth.member_id):
        raise InstallRejected(400, _l("Поле member_id имеет неверный формат."))
    if not auth.access_token:
        raise InstallRejected(400, _l("Не хватает поля: %(name)s", name="access token"))
    try:
        info = oauth_server(config, auth.server_endpoint).app_info(auth.access_token)
    except NetworkError as exc:
        log.warning("app.info unreachable for member_id=%s: %s", auth.member_id, exc)
        raise InstallRejected(502, _l("Сервер авторизации Bitrix24 недоступен, попробуйте ещё раз.")) from exc
    except BitrixError as exc:
        log.warning("app.info refused a token for member_id=%s: %s", auth.member_id, exc)
        raise InstallRejected(403, _l("Bitrix24 не подтвердил этот запрос (%(code)s).", code=exc.code or str(exc))) from exc
    except Exception as exc:  # network failure talking to the authorization server
        log.warning("app.info unreachable for member_id=%s: %s", auth.member_id, exc)
        raise InstallRejected(502, _l("Сервер авторизации Bitrix24 недоступен, попробуйте ещё раз.")) from exc
    install = info.get("install") or {}
    if info.get("client_id") != config["B24_CLIENT_ID"]:
        raise InstallRejected(403, _l("Токен выдан другому приложению."))
    if str(install.get("member_id") or "") != auth.member_id:
        raise InstallRejected(403, _l("Токен принадлежит другому порталу (member_id не совпадает)."))
    if install.get("domain") and str(install["domain"]).lower() != auth.domain:
        raise InstallRejected(403, _l("Токен принадлежит другому порталу (домен не совпадает)."))
    return info


def _apply_tokens(portal: Portal, auth: PortalAuth) -> None:
    portal.access_token = auth.access_token
    if auth.refresh_token:
        portal.refresh_token = auth.refresh_token
    portal.expires_at = utcnow() + timedelta(seconds=max(auth.expires_in - 30, 60))
    portal.token_refreshed_at = utcnow()


def upsert_installed_portal(auth: PortalAuth, info: dict, config, store_tokens: bool = True) -> Portal:
    """Create or revive the Portal and its Credential after a verified install; commits."""
    install = info.get("install") or {}
    allow_insecure = bool(config.get("B24_ALLOW_INSECURE_PORTALS"))
    endpoint = install.get("client_endpoint") or auth.client_endpoint
    endpoint = check_endpoint(endpoint, allow_insecure) if endpoint else portal_endpoint(
        auth.domain, auth.secure, allow_insecure)
    for attempt in range(2):
        portal = Portal.query.filter_by(member_id=auth.member_id).one_or_none()
        created = portal is None
        if created:
            portal = Portal(member_id=auth.member_id)
            db.session.add(portal)
        was_active = portal.status == PortalStatus.INSTALLED
        portal.domain = auth.domain
        portal.client_endpoint = endpoint
        portal.server_endpoint = auth.server_endpoint or portal.server_endpoint
        if auth.application_token:
            portal.application_token = auth.application_token
        portal.scope = auth.scope or install.get("scope") or portal.scope
        portal.lang = auth.lang or portal.lang or "ru"
        if store_tokens:
            _apply_tokens(portal, auth)
        if not was_active:
            portal.installed_at = utcnow()
            portal.uninstalled_at = None
        portal.status = PortalStatus.INSTALLED
        portal.status_reason = None
        if info.get("user_id") and not portal.installer_user_id:
            portal.installer_user_id = _int(info.get("user_id"), 0) or None
        if portal.credential is None:
            db.session.add(Credential(name=auth.domain, portal=portal, origin="marketplace"))
        try:
            db.session.commit()
            break
        except IntegrityError:
            # The iframe POST and ONAPPINSTALL raced to create the same portal: take the winner's row.
            db.session.rollback()
            if attempt:
                raise
    log.info("portal installed member_id=%s domain=%s", portal.member_id, portal.domain)
    return portal


def ensure_uninstall_handler(portal: Portal, access_token: str, handler_url: str, config) -> None:
    """Bind ONAPPUNINSTALL to our events URL once (a duplicate bind is harmless)."""
    client = PortalClient(portal.client_endpoint, StaticToken(access_token), address_policy=address_policy(config))
    try:
        bound = client.call("event.get").result or []
        if any(str(b.get("event", "")).upper() == "ONAPPUNINSTALL" and b.get("handler") == handler_url
               for b in bound if isinstance(b, dict)):
            return
        client.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": handler_url})
    except BitrixError as exc:
        if "ALREADY" in (exc.code or "").upper():
            return
        log.warning("event.bind ONAPPUNINSTALL failed member_id=%s: %s", portal.member_id, exc)
        raise


def uninstall(form) -> Portal:
    """ONAPPUNINSTALL: the application_token is the only proof; mark the portal uninstalled, keep its data."""
    member_id = _required(form, "auth[member_id]")
    token = _required(form, "auth[application_token]")
    portal = Portal.query.filter_by(member_id=member_id).one_or_none()
    if portal is None:
        raise InstallRejected(404, _l("Неизвестный портал (member_id)."))
    if not portal.application_token or not hmac.compare_digest(portal.application_token, token):
        log.warning("ONAPPUNINSTALL with a wrong application_token member_id=%s", member_id)
        raise InstallRejected(403, _l("application_token не совпадает."))
    portal.status = PortalStatus.UNINSTALLED
    portal.status_reason = "uninstalled in Bitrix24"
    portal.uninstalled_at = utcnow()
    portal.access_token = None
    portal.refresh_token = None
    portal.expires_at = None
    db.session.commit()
    log.info("portal uninstalled member_id=%s", member_id)
    if str(form.get("data[CLEAN]") or "").strip().upper() in ("1", "Y", "TRUE"):
        # The administrator chose "delete data" when uninstalling: nothing of the portal stays.
        personal_data.delete_portal_data(portal)
    return portal


def usable_install_claim(credential: Credential, lifetime_seconds: int) -> InstallClaim:
    """The credential's newest unused claim while it has most of its life left, else a new one."""
    fresh_since = utcnow() - timedelta(seconds=lifetime_seconds // 2)
    claim = (InstallClaim.query
             .filter(InstallClaim.credential_id == credential.id, InstallClaim.used_at.is_(None),
                     InstallClaim.created_at >= fresh_since)
             .order_by(InstallClaim.created_at.desc()).first())
    return claim or new_install_claim(credential)


def new_install_claim(credential: Credential) -> InstallClaim:
    claim = InstallClaim(nonce=secrets.token_urlsafe(24), credential_id=credential.id)
    db.session.add(claim)
    db.session.commit()
    return claim
