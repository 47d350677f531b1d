"""The settings window's tabs (both sides); for now the Main tab ("Главная")."""
from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Regexp

from bx_app import settings_store
from bx_app.web.journal import choose_credential, render_for_viewer
from bx_app.web.viewer import current_viewer

bp = Blueprint("settings", __name__)

# Standard Bitrix24 lead sources (crm.status.list ENTITY_ID=SOURCE); a portal may add its own (UC_…).
STANDARD_SOURCES = ("WEBFORM", "CALLBACK", "CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER",
                    "RECOMMENDATION", "TRADE_SHOW", "RC_GENERATOR", "STORE", "OTHER")
SOURCE_ID = Regexp(r"^[A-Za-z0-9_]+$", message=_l("Код источника: латинские буквы, цифры и «_», например WEBFORM."))


class UserIdField(IntegerField):
    """A Bitrix24 user id, with the parse error in the page's language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_("ID пользователя — целое число, например 1.")) from exc


class MainSettingsForm(FlaskForm):
    """The Main tab: the master flag, the default responsible and the lead sources."""

    active = BooleanField(_l("Интеграция активна"))
    default_responsible_id = UserIdField(
        _l("Ответственный по умолчанию (ID пользователя Bitrix24)"),
        validators=[InputRequired(_l("Укажите ID пользователя Bitrix24.")),
                    NumberRange(min=1, message=_l("ID пользователя — целое число больше нуля."))])
    lead_source_offline = StringField(
        _l("Источник (SOURCE_ID) для офлайн заявок"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[InputRequired(_l("Укажите источник.")), Length(max=50), SOURCE_ID])
    lead_source_chats = StringField(
        _l("Источник (SOURCE_ID) для чатов"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[InputRequired(_l("Укажите источник.")), Length(max=50), SOURCE_ID])

    def fill_from(self, main: dict) -> None:
        self.active.data = main["active"]
        self.default_responsible_id.data = main["default_responsible_id"]
        self.lead_source_offline.data = main["lead_source"]["offline"]
        self.lead_source_chats.data = main["lead_source"]["chats"]

    def options(self) -> dict:
        return {
            "default_responsible_id": self.default_responsible_id.data,
            "lead_source": {"offline": self.lead_source_offline.data, "chats": self.lead_source_chats.data},
        }


@bp.get("/settings")
def choose():
    return choose_credential(current_viewer(), "settings.main", _("Настройки"))


@bp.get("/settings/<int:credential_id>")
def index(credential_id: int):
    """The settings window of a credential opens on its first tab."""
    current_viewer().credential(credential_id)
    return redirect(url_for("settings.main", credential_id=credential_id))


@bp.route("/settings/<int:credential_id>/main", methods=["GET", "POST"])
def main(credential_id: int):
    viewer = current_viewer()
    credential = viewer.credential(credential_id)
    form = MainSettingsForm()
    status = 200
    if request.method == "POST":
        viewer.require_edit()
        if form.validate_on_submit():
            current = settings_store.load_channel(credential.id, "main")
            options = {**{k: v for k, v in current.items() if k != "active"}, **form.options()}
            settings_store.save_channel(credential.id, "main", form.active.data, options)
            return redirect(url_for("settings.main", credential_id=credential.id, notice="saved"))
        status = 400
    else:
        form.fill_from(settings_store.load_channel(credential.id, "main"))
    return render_for_viewer(viewer, credential, "settings/main.html", status=status, active_tab="main",
                             form=form, standard_sources=STANDARD_SOURCES)
