"""The UIS side's business: sign in with a Data API key, connect a portal (I1), claim a marketplace install (I2)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from flask_babel import get_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from bx_app import channels, installation
from bx_app.bitrix.oauth import TokenSet
from bx_app.extensions import db
from bx_app.installation import InstallRejected
from bx_app.models import Credential, InstallClaim, Portal, UisAccount
from bx_app.models.account import PortalStatus, new_hook_token
from bx_app.models.timeutil import utcnow
from bx_app.outbound import AddressForbidden, OutboundPolicy
from bx_app.portal_auth import store_tokens
from bx_app.uis.client import DataApiClient
from bx_app.uis.errors import AuthError as UisAuthError
from bx_app.uis.errors import TransportError, UisError
from bx_app.uis.notifications import default_template

log = logging.getLogger(__name__)

PORTAL_CHECK_TIMEOUT = 5.0
SIGN_IN_TIMEOUT = 15.0
NAME_MAX_LENGTH = 255


def _lang() -> str:
    locale = get_locale()
    return str(locale) if locale else "ru"


# --- sign in ----------------------------------------------------------------------------------------
class SignInRefused(Exception):
    """The Data API key was not accepted: `message` says why and what to do, in the user's language."""

    def __init__(self, message: str, error: UisError | None = None):
        super().__init__(message)
        self.message = message
        self.error = error


# The stored key no longer works: a new sign-in's key takes its place without asking.
DEAD_KEY_STATUSES = ("token_invalid",)


def sign_in(data_api_url: str, token: str, replace_key: bool = False) -> UisAccount:
    """Check the key with get.account, then create or update the UisAccount keyed by app_id; commits.

    The stored key is the one the server polls UIS with. A sign-in with another valid key of the same
    account keeps it unless ``replace_key`` (the user's choice) or the stored key is missing or dead;
    ``account.key_replaced`` says which happened.
    """
    token = (token or "").strip()
    if not token:
        raise SignInRefused(_("Укажите ключ UIS Data API."))
    client = DataApiClient(data_api_url, token, timeout=SIGN_IN_TIMEOUT, max_retries=0)
    try:
        account_data = client.get_account()
    except TransportError as exc:
        log.warning("UIS sign-in: Data API unreachable: %s", exc)
        raise SignInRefused(_("UIS Data API недоступен (%(reason)s). Попробуйте ещё раз через несколько минут.",
                              reason=exc.message or exc.mnemonic), exc) from exc
    except UisError as exc:
        log.info("UIS sign-in refused: %s", exc)
        raise SignInRefused(exc.user_message(_lang()), exc) from exc
    app_id = account_data.get("app_id") if isinstance(account_data, dict) else None
    try:
        app_id = int(app_id)
    except (TypeError, ValueError):
        raise SignInRefused(_("UIS не вернул данные аккаунта для этого ключа. Проверьте ключ.")) from None
    for attempt in range(2):
        account = UisAccount.query.filter_by(app_id=app_id).one_or_none()
        if account is None:
            account = UisAccount(app_id=app_id)
            db.session.add(account)
        account.name = str(account_data.get("name") or "")[:255] or f"UIS {app_id}"
        account.timezone = str(account_data.get("timezone") or "")[:64] or "Europe/Moscow"
        stored = account.data_api_token
        account.key_replaced = (not stored or stored == token or replace_key
                                or account.status in DEAD_KEY_STATUSES)
        if account.key_replaced:
            account.data_api_token = token
            account.status = "ok"
            account.status_reason = None
        try:
            db.session.commit()
            break
        except IntegrityError:  # two first sign-ins of one account raced: update the winner's row
            db.session.rollback()
            if attempt:
                raise
    log.info("UIS account signed in app_id=%s (stored key %s)", app_id,
             "replaced" if account.key_replaced else "kept")
    return account


def recheck_stored_key(account: UisAccount, data_api_url: str) -> bool:
    """Ask UIS whether the stored polling key still works; a revoked key marks the account (commits).

    Returns False for a key UIS refused: the UIS side then signs the account out and shows why.
    Transport trouble and limits say nothing about the key and change nothing.
    """
    if not account.data_api_token:
        return False
    client = DataApiClient(data_api_url, account.data_api_token, timeout=SIGN_IN_TIMEOUT, max_retries=1)
    try:
        client.get_account()
    except UisAuthError as exc:
        account.status = "token_invalid"
        account.status_reason = exc.user_message("ru")[:1000]
        db.session.commit()
        log.warning("UIS account %s: the stored Data API key was refused (%s)", account.app_id, exc.mnemonic)
        return False
    except UisError as exc:
        log.info("UIS account %s: key check inconclusive (%s)", account.app_id, exc)
        return True
    if account.status in DEAD_KEY_STATUSES:
        account.status, account.status_reason = "ok", None
        db.session.commit()
    return True


# --- the portal address -----------------------------------------------------------------------------
class AddressRefused(ValueError):
    """A portal address we cannot use; the message is for the form field."""


@dataclass(frozen=True)
class PortalAddress:
    domain: str  # host[:port], lower case, as Portal.domain stores it
    base_url: str  # scheme://domain

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")


def normalise_portal_address(raw: str, allow_insecure: bool) -> PortalAddress:
    """`https://x.bitrix24.ru/`, `X.Bitrix24.RU/crm/`, `crm.example.com` → https://x.bitrix24.ru (path dropped)."""
    text = (raw or "").strip()
    if not text:
        raise AddressRefused(_("Укажите адрес портала Bitrix24, например company.bitrix24.ru."))
    garbage = AddressRefused(_("«%(value)s» не похоже на адрес портала Bitrix24. Пример: company.bitrix24.ru.",
                               value=text[:100]))
    if any(c.isspace() for c in text):
        raise garbage
    scheme = None
    if "://" in text:
        scheme, _sep, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise garbage
        text = rest
    try:
        parts = urlsplit("//" + text)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        raise garbage from None
    if not host or parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise garbage
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise garbage from None
    loopback = installation._is_loopback_or_private(host)
    if scheme is None:
        # Development portals (the sandbox) live on loopback over plain http.
        scheme = "http" if (allow_insecure and loopback) else "https"
    if port is not None and port == {"https": 443, "http": 80}[scheme]:
        port = None
    domain = f"{host}:{port}" if port is not None else host
    try:
        installation.portal_endpoint(domain, True, True)  # syntax only
    except InstallRejected:
        raise garbage from None
    if "." not in host and not (allow_insecure and loopback):
        raise garbage
    if not allow_insecure:
        if scheme != "https":
            raise AddressRefused(_("Портал должен открываться по HTTPS: укажите адрес, начинающийся с https://."))
        if loopback:
            raise AddressRefused(_("Адрес %(domain)s — локальный или внутренний: укажите адрес портала в интернете.",
                                   domain=domain))
    try:
        installation.portal_endpoint(domain, scheme == "https", allow_insecure)
    except InstallRejected as exc:  # a rule of installation's we did not spell out above
        raise AddressRefused(str(exc.reason)) from None
    return PortalAddress(domain=domain, base_url=f"{scheme}://{domain}")


def portal_reachable(base_url: str, timeout: float = PORTAL_CHECK_TIMEOUT, allow_insecure: bool = False) -> bool:
    """Any HTTP answer from the portal's address counts; no answer within the timeout does not.

    The request goes only to an address the outbound policy resolved and checked (ConnectRefused
    otherwise): the address was typed by a user, and the server must not probe its own network for them.
    """
    try:
        OutboundPolicy(allow_insecure).session().head(base_url + "/", timeout=timeout, allow_redirects=False)
    except AddressForbidden as exc:
        log.warning("portal address refused by the outbound policy: %s", exc)
        raise ConnectRefused(str(installation.address_refusal(exc))) from None
    except requests.RequestException as exc:
        log.info("portal %s unreachable: %s", base_url, exc)
        return False
    return True


# --- connect a portal from the UIS side (I1) --------------------------------------------------------
class ConnectRefused(Exception):
    """The connect form cannot go on; `field` is the form field to show it at ("name" / "portal" / None)."""

    def __init__(self, message: str, field: str | None = "portal", credential: Credential | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.credential = credential  # the account's own credential for this portal, to link to


def _credentials_for_domain(domain: str) -> list[Credential]:
    return (Credential.query.join(Portal, Credential.portal_id == Portal.id)
            .filter(Portal.domain == domain).order_by(Credential.id).all())


def check_portal_free(account: UisAccount, domain: str) -> None:
    """Refuse a portal attached to another UIS account, or one this account already has working."""
    for credential in _credentials_for_domain(domain):
        if credential.uis_account_id not in (None, account.id):
            raise ConnectRefused(_("Портал %(domain)s уже подключён к другому аккаунту UIS.", domain=domain))
        if credential.uis_account_id == account.id and credential.portal.status == PortalStatus.INSTALLED:
            raise ConnectRefused(_("Портал %(domain)s уже подключён к вашему аккаунту: учётные данные «%(name)s».",
                                   domain=domain, name=credential.name), credential=credential)


def prepare_connect(account: UisAccount, name: str, raw_address: str, allow_insecure: bool) -> dict:
    """Validate the connect form and return the OAuth state to send the user to the portal's consent with."""
    name = (name or "").strip()
    if not name:
        raise ConnectRefused(_("Укажите название."), field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise ConnectRefused(_("Название не длиннее %(n)s символов.", n=NAME_MAX_LENGTH), field="name")
    try:
        address = normalise_portal_address(raw_address, allow_insecure)
    except AddressRefused as exc:
        raise ConnectRefused(str(exc)) from None
    check_portal_free(account, address.domain)
    if not portal_reachable(address.base_url, allow_insecure=allow_insecure):
        raise ConnectRefused(_("Портал %(url)s недоступен: проверьте адрес и попробуйте ещё раз.",
                               url=address.base_url))
    return {"purpose": "connect", "account_id": account.id, "name": name, "domain": address.domain,
            "base_url": address.base_url}


def _endpoint_domain(endpoint: str | None) -> str | None:
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if port is not None and port == {"https": 443, "http": 80}.get(parts.scheme):
        port = None
    return f"{host}:{port}" if port is not None else host


def complete_connect(account: UisAccount, state: dict, tokens: TokenSet, allow_insecure: bool) -> Credential:
    """After the portal's consent: create or update the Portal and its Credential for this account; commits."""
    domain = str(state.get("domain") or "")
    name = str(state.get("name") or domain)[:NAME_MAX_LENGTH]
    granted_domain = _endpoint_domain(tokens.client_endpoint)
    if not granted_domain or granted_domain != domain:
        raise ConnectRefused(_("Доступ выдал другой портал (%(granted)s), а не %(domain)s.",
                               granted=granted_domain or "?", domain=domain))
    if not tokens.member_id:
        raise ConnectRefused(_("Bitrix24 не сообщил идентификатор портала (member_id). Попробуйте ещё раз."))
    try:
        endpoint = installation.check_endpoint(tokens.client_endpoint, allow_insecure)
    except InstallRejected as exc:
        raise ConnectRefused(exc.reason) from None
    for attempt in range(2):
        portal = Portal.query.filter_by(member_id=tokens.member_id).one_or_none()
        credential = portal.credential if portal is not None else None
        if credential is not None and credential.uis_account_id not in (None, account.id):
            raise ConnectRefused(_("Портал %(domain)s уже подключён к другому аккаунту UIS.", domain=domain))
        if portal is None:
            portal = Portal(member_id=tokens.member_id)
            db.session.add(portal)
        was_installed = portal.status == PortalStatus.INSTALLED
        portal.domain = domain
        portal.client_endpoint = endpoint
        store_tokens(portal, tokens)
        portal.status = PortalStatus.INSTALLED
        portal.status_reason = None
        if not was_installed:
            portal.installed_at = utcnow()
            portal.uninstalled_at = None
        if tokens.user_id and not portal.installer_user_id:
            portal.installer_user_id = tokens.user_id
        if credential is None:
            credential = Credential(portal=portal, origin="uis", name=name)
            db.session.add(credential)
        credential.name = name
        credential.uis_account_id = account.id
        try:
            db.session.commit()
            break
        except IntegrityError:  # the same portal was stored meanwhile (install POST, a second tab)
            db.session.rollback()
            if attempt:
                raise
    log.info("portal connected from the UIS side member_id=%s domain=%s app_id=%s",
             portal.member_id, domain, account.app_id)
    return credential


# --- finish a marketplace install (I2) --------------------------------------------------------------
class ClaimRefused(Exception):
    """A claim link that cannot be used: status for the page, a title and the reason in plain words."""

    def __init__(self, status: int, title: str, reason: str, credential: Credential | None = None):
        super().__init__(reason)
        self.status = status
        self.title = title
        self.reason = reason
        self.credential = credential  # the viewer's own credential, when the claim is already done


def load_claim(serializer: URLSafeTimedSerializer, token: str, max_age: int) -> tuple[InstallClaim, Credential]:
    """The claim and its credential from a signed link; expired, forged or mismatched links are refused."""
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise ClaimRefused(400, _("Ссылка устарела"),
                           _("Срок действия ссылки истёк. Откройте приложение UIS 2.0 в портале Bitrix24 "
                             "(или переустановите его), чтобы получить новую ссылку.")) from None
    except BadSignature:
        raise ClaimRefused(400, _("Неверная ссылка"),
                           _("Ссылка повреждена или подделана. Скопируйте её из окна установки полностью.")) from None
    forged = ClaimRefused(400, _("Неверная ссылка"), _("Ссылка не относится ни к одной установке приложения."))
    if not isinstance(payload, dict):
        raise forged
    claim = InstallClaim.query.filter_by(nonce=str(payload.get("nonce") or "")).one_or_none()
    if claim is None or claim.credential_id != payload.get("credential"):
        raise forged
    credential = db.session.get(Credential, claim.credential_id)
    if credential is None:
        raise forged
    return claim, credential


def check_claim(claim: InstallClaim, credential: Credential, account: UisAccount | None) -> None:
    """Refuse a used claim, a credential that already has an account, or a portal that removed the app."""
    if account is not None and credential.uis_account_id == account.id:
        raise ClaimRefused(409, _("Уже привязано"),
                           _("Учётные данные «%(name)s» уже привязаны к вашему аккаунту.", name=credential.name),
                           credential=credential)
    if claim.used_at is not None:
        raise ClaimRefused(409, _("Ссылка уже использована"),
                           _("Эта ссылка уже была использована. Каждая ссылка действует один раз."))
    if credential.uis_account_id is not None:
        raise ClaimRefused(409, _("Привязано к другому аккаунту"),
                           _("Учётные данные «%(name)s» уже привязаны к другому аккаунту UIS.", name=credential.name))
    if credential.portal.status == PortalStatus.UNINSTALLED:
        raise ClaimRefused(409, _("Приложение удалено"),
                           _("Приложение UIS 2.0 удалено с портала %(domain)s. Установите его снова.",
                             domain=credential.portal.domain))


def attach_claim(claim: InstallClaim, credential: Credential, account: UisAccount) -> Credential:
    """Attach the credential to the account and spend the claim, both or neither (a race loses cleanly)."""
    check_claim(claim, credential, account)
    now = utcnow()
    spent = db.session.execute(
        update(InstallClaim)
        .where(InstallClaim.id == claim.id, InstallClaim.used_at.is_(None))
        .values(used_at=now, used_by_account_id=account.id)
    ).rowcount
    attached = spent and db.session.execute(
        update(Credential)
        .where(Credential.id == credential.id, Credential.uis_account_id.is_(None))
        .values(uis_account_id=account.id, updated_at=now)
    ).rowcount
    if not (spent and attached):
        db.session.rollback()
        raise ClaimRefused(409, _("Ссылка уже использована"),
                           _("Эту ссылку только что использовали. Каждая ссылка действует один раз."))
    db.session.commit()
    db.session.refresh(credential)
    log.info("credential %s claimed by UIS account app_id=%s", credential.id, account.app_id)
    return credential


# --- a credential's own page ------------------------------------------------------------------------
def rename_credential(credential: Credential, name: str) -> Credential:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise ValueError(_("Название обязательно, не длиннее %(n)s символов.", n=NAME_MAX_LENGTH))
    credential.name = name
    db.session.commit()
    return credential


def hook_url(public_url: str, credential: Credential) -> str:
    return f"{public_url.rstrip('/')}/hooks/uis/{credential.hook_token}"


def change_hook_address(credential: Credential) -> None:
    """A new secret hook address for a leaked one; commits. The old one answers 404 from this moment:
    every process reads the token from the database on each push."""
    credential.hook_token = new_hook_token()
    db.session.commit()
    log.info("hook address changed for credential %s", credential.id)


NOTIFICATION_EVENTS = tuple(m for c in channels.CHANNELS for m in c.suggested_notifications)


def _event_titles() -> dict:
    return {"offline_message": _("Офлайн заявка"), "chat_finished": _("Завершение чата"),
            "lost_chat": _("Потерянный чат"), "in_call_session": _("Входящий звонок на виртуальный номер"),
            "out_call_session": _("Исходящий звонок"), "call_session_finished": _("Завершение звонка"),
            "lost_call_session": _("Потерянный звонок"), "talk_record_file": _("Записанный разговор")}


def notification_templates() -> list[dict]:
    """For each UIS event the app listens to: its cabinet name and the templates to paste, per HTTP method."""
    rows = []
    titles = _event_titles()
    for event in NOTIFICATION_EVENTS:
        templates = {}
        for method in ("POST", "GET"):
            try:
                templates[method] = default_template(event, method)
            except ValueError:
                templates[method] = ""
        rows.append({"event": event, "title": titles[event], "templates": templates})
    return rows
