"""The UIS side (/uis/...): sign in with a Data API key, the credentials, connect a portal (I1), claim an install (I2)."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from bx_app import uis_accounts
from bx_app.extensions import db
from bx_app.models import UisAccount
from bx_app.models.account import PortalStatus
from bx_app.uis_accounts import ClaimRefused, ConnectRefused, SignInRefused
from bx_app.web import b24_oauth, setup_view
from bx_app.web.install import claim_serializer, start_reference_sync
from bx_app.web.viewer import current_viewer

bp = Blueprint("uis_side", __name__, url_prefix="/uis")

CLAIM_SESSION_KEY = "uis_claim_token"


# --- forms --------------------------------------------------------------------------------------------
class SignInForm(FlaskForm):
    token = PasswordField(_l("Ключ UIS Data API"), validators=[
        DataRequired(message=_l("Укажите ключ UIS Data API.")), Length(max=512)])
    replace_key = BooleanField(_l("Читать данные UIS с этим ключом (заменит ключ, сохранённый раньше)"))


class ConnectForm(FlaskForm):
    name = StringField(_l("Название"), validators=[
        DataRequired(message=_l("Укажите название.")),
        Length(max=uis_accounts.NAME_MAX_LENGTH,
               message=_l("Название не длиннее %(max)d символов."))])
    portal = StringField(_l("Адрес портала Bitrix24"), validators=[
        DataRequired(message=_l("Укажите адрес портала Bitrix24, например company.bitrix24.ru.")),
        Length(max=300)])


class RenameForm(FlaskForm):
    name = StringField(_l("Название"), validators=[
        DataRequired(message=_l("Укажите название.")),
        Length(max=uis_accounts.NAME_MAX_LENGTH, message=_l("Название не длиннее %(max)d символов."))])


class ConfirmForm(FlaskForm):
    """A POST with nothing but the CSRF token (sign out, confirm a claim)."""


# --- who is signed in ---------------------------------------------------------------------------------
def signed_in_account() -> UisAccount | None:
    if getattr(session, "from_token", False):
        return None  # an iframe session is never a UIS sign-in
    account_id = session.get("uis_account_id")
    account = db.session.get(UisAccount, account_id) if account_id else None
    if account_id and account is None:
        session.pop("uis_account_id", None)
    if account is not None and account.status in uis_accounts.DEAD_KEY_STATUSES:
        # UIS refused the stored key (revoked, expired): whoever signed in with it is out until a
        # working key is given again.
        session.pop("uis_account_id", None)
        flash(_("UIS больше не принимает ключ Data API, сохранённый для аккаунта «%(name)s» (ключ отозван "
                "или истёк). Войдите с действующим ключом.", name=account.name), "danger")
        return None
    return account


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/uis/") and "//" not in target and "\\" not in target:
        return target
    return None


def account_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        account = signed_in_account()
        if account is None:
            return redirect(url_for("uis_side.sign_in", next=request.path if request.method == "GET" else None))
        g.uis_account = account
        return view(*args, **kwargs)

    return wrapper


@bp.before_app_request
def _language_from_the_link():
    """The UIS side speaks the language it was reached with (the portal's, carried as ?lang= in the link)."""
    if getattr(session, "from_token", False):
        return  # the iframe session carries the portal user's language itself
    lang = request.args.get("lang")
    if lang in ("ru", "en") and session.get("lang") != lang:
        session["lang"] = lang


def account_language(account: UisAccount) -> str | None:
    """Without a language in the link: the one its portals speak (Bitrix24 tells it on install)."""
    langs = [c.portal.lang for c in account.credentials if c.portal is not None and c.portal.lang]
    if not langs:
        return None
    lang = max(set(langs), key=langs.count)
    return lang if lang in ("ru", "en") else ("ru" if lang in ("ua", "by", "kz") else "en")


@bp.context_processor
def _uis_context():
    return {"uis_account": g.get("uis_account"), "PortalStatus": PortalStatus}


# --- sign in / out ----------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
@bp.route("/", methods=["GET", "POST"])
def sign_in():
    account = signed_in_account()
    next_url = _safe_next(request.values.get("next"))
    if account is not None and request.method == "GET":
        return redirect(_after_sign_in(next_url))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            account = uis_accounts.sign_in(current_app.config["UIS_DATA_API_URL"], form.token.data,
                                           replace_key=form.replace_key.data)
        except SignInRefused as exc:
            form.token.errors.append(exc.message)
        else:
            claim_token = session.get(CLAIM_SESSION_KEY)
            lang = session.get("lang")
            session.clear()
            session["uis_account_id"] = account.id
            if claim_token:
                session[CLAIM_SESSION_KEY] = claim_token
            lang = lang or account_language(account)
            if lang:
                session["lang"] = lang
            flash(_("Вы вошли как %(name)s (аккаунт UIS %(app_id)s).", name=account.name, app_id=account.app_id),
                  "success")
            if not account.key_replaced:
                flash(_("Данные UIS по-прежнему читаются с ключом, сохранённым раньше. Чтобы читать их с новым "
                        "ключом, войдите ещё раз и отметьте «Читать данные UIS с этим ключом»."), "info")
            return redirect(_after_sign_in(next_url))
    return render_template("uis/sign_in.html", form=form, next_url=next_url,
                           claim_pending=bool(session.get(CLAIM_SESSION_KEY))), 200 if not form.errors else 400


def _after_sign_in(next_url: str | None) -> str:
    claim_token = session.get(CLAIM_SESSION_KEY)
    if claim_token:
        return url_for("uis_side.claim", token=claim_token)
    return next_url or url_for("uis_side.credentials")


@bp.post("/logout")
def sign_out():
    session.pop("uis_account_id", None)
    session.pop(CLAIM_SESSION_KEY, None)
    flash(_("Вы вышли из аккаунта UIS."), "info")
    return redirect(url_for("uis_side.sign_in"))


@bp.get("/lang/<code>")
def switch_language(code: str):
    if code in ("ru", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")) or url_for("uis_side.sign_in"))


# --- credentials ------------------------------------------------------------------------------------
@bp.get("/credentials")
@account_required
def credentials():
    return render_template("uis/credentials.html", credentials=current_viewer().credentials(),
                           account=g.uis_account)


@bp.route("/credentials/<int:credential_id>", methods=["GET", "POST"])
@account_required
def credential(credential_id: int):
    credential = current_viewer().credential(credential_id)
    form = RenameForm(obj=credential)
    if form.validate_on_submit():
        try:
            uis_accounts.rename_credential(credential, form.name.data)
        except ValueError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(_("Название сохранено."), "success")
            return redirect(url_for("uis_side.credential", credential_id=credential.id))
    viewer = current_viewer()
    return render_template(
        "uis/credential.html", credential=credential, portal=credential.portal, form=form, viewer=viewer,
        credentials=viewer.credentials(), active_tab="connection", claim_link=None,
        check_url=url_for("uis_side.credential", credential_id=credential.id, check=1),
        **setup_view.checklist_context(credential),
        hook_url=uis_accounts.hook_url(current_app.config["PUBLIC_URL"], credential),
        hook_change_url=url_for("uis_side.change_hook", credential_id=credential.id),
        hook_changed=request.args.get("notice") == "hook_changed",
        notifications=uis_accounts.notification_templates(),
        journal_url=url_for("journal.index", credential_id=credential.id),
        settings_url=url_for("settings.index", credential_id=credential.id),
    ), 200 if not form.errors else 400


@bp.post("/credentials/<int:credential_id>/hook-address")
@account_required
def change_hook(credential_id: int):
    """"Сменить адрес": a leaked hook address stops working at once; UIS must get the new one."""
    credential = current_viewer().credential(credential_id)
    uis_accounts.change_hook_address(credential)
    return redirect(url_for("uis_side.credential", credential_id=credential.id, notice="hook_changed",
                            _anchor="notifications"))


@bp.post("/credentials/<int:credential_id>/reconnect")
@account_required
def reconnect(credential_id: int):
    """Ask the portal's consent again for a credential whose portal needs re-authorisation."""
    credential = current_viewer().credential(credential_id)
    state = {"purpose": "connect", "account_id": g.uis_account.id, "name": credential.name,
             "domain": credential.portal.domain, "base_url": credential.portal.portal_url}
    return redirect(b24_oauth.authorize_redirect_url(credential.portal.portal_url, state))


# --- connect a portal (I1) --------------------------------------------------------------------------
@bp.route("/connect", methods=["GET", "POST"])
@account_required
def connect():
    form = ConnectForm()
    if request.method == "GET":
        form.name.data = request.args.get("name", "")[:uis_accounts.NAME_MAX_LENGTH]
        form.portal.data = request.args.get("portal", "")[:300]
    existing = None
    if form.validate_on_submit():
        try:
            state = uis_accounts.prepare_connect(g.uis_account, form.name.data, form.portal.data,
                                                 current_app.config["B24_ALLOW_INSECURE_PORTALS"])
        except ConnectRefused as exc:
            getattr(form, exc.field or "portal").errors.append(exc.message)
            existing = exc.credential
        else:
            return redirect(b24_oauth.authorize_redirect_url(state["base_url"], state))
    status = 400 if form.errors else 200
    return render_template("uis/connect.html", form=form, existing=existing), status


def _complete_connect(state: dict, tokens, error_reason: str | None):
    """The "connect" purpose of the OAuth callback: store the portal, or back to the form with the reason."""
    account = signed_in_account()
    if account is None or account.id != state.get("account_id"):
        return render_template("error.html", code=403, title=_("Нет доступа"), reason=_(
            "Подключение начато из другого аккаунта UIS. Войдите в него и подключите портал заново.")), 403
    g.uis_account = account
    back = redirect(url_for("uis_side.connect", name=state.get("name") or "",
                            portal=state.get("base_url") or state.get("domain") or ""))
    if tokens is None:
        flash(error_reason or _("Портал не предоставил доступ."), "danger")
        return back
    try:
        credential = uis_accounts.complete_connect(account, state, tokens,
                                                   current_app.config["B24_ALLOW_INSECURE_PORTALS"])
    except ConnectRefused as exc:
        flash(exc.message, "danger")
        return back
    start_reference_sync(credential.id)
    flash(_("Портал %(domain)s подключён: учётные данные «%(name)s».", domain=credential.portal.domain,
            name=credential.name), "success")
    return redirect(url_for("uis_side.credentials", connected=credential.id))


b24_oauth.completions["connect"] = _complete_connect


# --- finish a marketplace install (I2) --------------------------------------------------------------
@bp.route("/claim/<token>", methods=["GET", "POST"])
def claim(token: str):
    try:
        claim_row, credential = uis_accounts.load_claim(
            claim_serializer(), token, current_app.config["INSTALL_CLAIM_SECONDS"])
        account = signed_in_account()
        if account is None:
            uis_accounts.check_claim(claim_row, credential, None)
            session[CLAIM_SESSION_KEY] = token
            flash(_("Войдите с ключом UIS Data API, чтобы привязать учётные данные «%(name)s» к вашему аккаунту.",
                    name=credential.name), "info")
            return redirect(url_for("uis_side.sign_in"))
        g.uis_account = account
        form = ConfirmForm()
        if request.method == "POST" and form.validate_on_submit():
            uis_accounts.attach_claim(claim_row, credential, account)
            start_reference_sync(credential.id)  # now the UIS side (employees, channels) can be read too
            session.pop(CLAIM_SESSION_KEY, None)
            flash(_("Учётные данные «%(name)s» (%(domain)s) привязаны к аккаунту %(account)s.",
                    name=credential.name, domain=credential.portal.domain, account=account.name), "success")
            return redirect(url_for("uis_side.credential", credential_id=credential.id))
        uis_accounts.check_claim(claim_row, credential, account)
    except ClaimRefused as exc:
        session.pop(CLAIM_SESSION_KEY, None)
        if exc.credential is not None:
            flash(exc.reason, "info")
            return redirect(url_for("uis_side.credential", credential_id=exc.credential.id))
        return render_template("error.html", code=exc.status, title=exc.title, reason=exc.reason), exc.status
    return render_template("uis/claim.html", form=form, credential=credential, portal=credential.portal,
                           account=account, token=token)
