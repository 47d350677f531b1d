"""The journal's read side (filter form, query, paging, words for kinds/stages/statuses/reasons, entity links) and the retry-all job."""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l
from wtforms import Form, IntegerField, SelectField
from wtforms.fields import DateField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, ValidationError

from bx_app import channels, intake, progress, queues
from bx_app.models import Credential, Event
from bx_app.models.event import EventStatus

log = logging.getLogger(__name__)


def _choice(value, label):
    return SelectChoice(value=value, label=label)

PER_PAGE = 50
RETRY_CHUNK = 50
RETRY_ALL_KIND = "retry_failed"
DEFAULT_TIMEZONE = "Europe/Moscow"

KIND_WORDS = {c.kind: _l(c.label) for c in channels.CHANNELS}  # msgids marked with N_ in bx_app.channels
STAGE_WORDS = {
    "arrived": _l("поступление"),
    "processed": _l("обработка оператором"),
    "started": _l("начало"),
    "finished": _l("завершение"),
    "lost": _l("потеря"),
    "unanswered": _l("нет ответа"),
    "record_ready": _l("запись готова"),
    "tag_set": _l("тег поставлен"),
    "tag_removed": _l("тег снят"),
}
STATUS_WORDS = {
    EventStatus.NEW: _l("Новое"),
    EventStatus.PROCESSING: _l("В обработке"),
    EventStatus.DONE: _l("Выполнено"),
    EventStatus.SKIPPED: _l("Пропущено"),
    EventStatus.FAILED: _l("Ошибка"),
}
STATUS_BADGES = {
    EventStatus.NEW: "b24-badge-info",
    EventStatus.PROCESSING: "b24-badge-warning",
    EventStatus.DONE: "b24-badge-success",
    EventStatus.SKIPPED: "b24-badge-muted",
    EventStatus.FAILED: "b24-badge-danger",
}
# Reason codes the processing may write into Event.reason (alone, or as "code: detail").
REASON_WORDS = {
    "main_inactive": _l("Интеграция выключена на вкладке «Главная»."),
    "channel_inactive": _l("Интеграция выключена для этого канала."),
    "filtered_out": _l("Не прошло фильтр по сценариям."),
    "no_contact_data": _l("Нет контактных данных посетителя, а передача таких обращений выключена."),
    "repeat_contact": _l("Повторное обращение: создание сущностей для повторных обращений выключено."),
    "first_contact": _l("Первичное обращение: создание сущностей для первичных обращений выключено."),
    "wrong_stage": _l("Сущности создаются на другом этапе обращения."),
    "already_created": _l("Сущности для этого обращения уже созданы."),
    "portal_unavailable": _l("Портал Bitrix24 недоступен."),
    "needs_reauth": _l("Порталу нужна повторная авторизация приложения."),
    "portal_uninstalled": _l("Приложение удалено с портала."),
    "no_responsible": _l("Не удалось определить ответственного."),
    "bitrix_error": _l("Bitrix24 вернул ошибку."),
    "uis_error": _l("Ошибка при обращении к UIS."),
    "kind_not_supported": _l("Этот тип обращений пока не обрабатывается."),
    "retry_scheduled": _l("Временная ошибка: повторная попытка запланирована."),
    "waiting_for_start": _l("Ждёт, пока будет обработан предыдущий этап обращения."),
    "same_communication": _l("Ждёт, пока будет обработан другой этап этого обращения."),
    "gave_up": _l("Не удалось после нескольких попыток."),
    "internal_error": _l("Внутренняя ошибка приложения (записана в журнал сервера)."),
    "rejected": _l("Уведомление UIS отклонено:"),
}

# Result keys with the Bitrix24 entity they name; the URL path is relative to the portal's address.
ENTITY_PATHS = {
    "lead_id": (_l("Лид"), "/crm/lead/details/{id}/"),
    "deal_id": (_l("Сделка"), "/crm/deal/details/{id}/"),
    "contact_id": (_l("Контакт"), "/crm/contact/details/{id}/"),
    "company_id": (_l("Компания"), "/crm/company/details/{id}/"),
    "activity_id": (_l("Дело"), None),
}


# --- the filter form ------------------------------------------------------------------------------
# Days as typed in Russian (ДД.ММ.ГГГГ) or English (MM/DD/YYYY), and ISO from links made before.
DAY_FORMATS = ["%d.%m.%Y", "%m/%d/%Y", "%Y-%m-%d"]


class DayField(DateField):
    """A day in the page's own format (the browser's date picker would show its own locale's) with the error
    in the page's language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(str(_l("Введите дату в формате ДД.ММ.ГГГГ."))) from exc


class PageField(IntegerField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(str(_l("Номер страницы — целое число."))) from exc


class JournalFilterForm(Form):
    """The journal's GET filter (no CSRF: it only reads)."""

    status = SelectField(_l("Статус"), choices=[_choice("", _l("Все"))] + [_choice(k, v) for k, v in STATUS_WORDS.items()],
                         validate_choice=False, default="")
    kind = SelectField(_l("Тип"), choices=[_choice("", _l("Все"))] + [_choice(k, v) for k, v in KIND_WORDS.items()],
                       validate_choice=False, default="")

    def validate_status(self, field):
        if field.data and field.data not in STATUS_WORDS:
            raise ValidationError(_l("Неизвестный статус."))

    def validate_kind(self, field):
        if field.data and field.data not in KIND_WORDS:
            raise ValidationError(_l("Неизвестный тип события."))
    date_from = DayField(_l("С даты"), validators=[Optional()], format=DAY_FORMATS)
    date_to = DayField(_l("По дату"), validators=[Optional()], format=DAY_FORMATS)
    page = PageField(_l("Страница"), validators=[Optional(), NumberRange(
        min=1, max=100000, message=_l("Номер страницы — от 1 до 100000."))], default=1)

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("Дата «по» раньше даты «с»."))


FILTER_KEYS = ("status", "kind", "date_from", "date_to")


def filter_form(args) -> JournalFilterForm:
    """The form bound to the request's query string (only the known keys)."""
    return JournalFilterForm(formdata=args)


def filter_args(args, keep_page: bool = False) -> dict:
    """The filter keys present in a query string, for links that keep the filter (paging, retry)."""
    keys = FILTER_KEYS + ("page",) if keep_page else FILTER_KEYS
    return {key: args.get(key) for key in keys if args.get(key)}


def timezone_of(credential: Credential) -> ZoneInfo:
    name = (credential.uis_account.timezone if credential.uis_account else None) or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        try:
            return ZoneInfo(DEFAULT_TIMEZONE)
        except ZoneInfoNotFoundError:
            return ZoneInfo("UTC")


def _utc_bound(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of the day as naive UTC (how timestamps are stored)."""
    local = datetime.combine(day, time.min, tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def local_time(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)


def events_query(credential_id: int, status: str | None = None, kind: str | None = None,
                 date_from: date | None = None, date_to: date | None = None, tz: ZoneInfo | None = None):
    """The credential's events matching the filter, newest first (dates are local days, inclusive)."""
    tz = tz or ZoneInfo("UTC")
    query = Event.query.filter(Event.credential_id == credential_id)
    if status:
        query = query.filter(Event.status == status)
    if kind:
        query = query.filter(Event.kind == kind)
    if date_from:
        query = query.filter(Event.created_at >= _utc_bound(date_from, tz))
    if date_to:
        query = query.filter(Event.created_at < _utc_bound(date_to + timedelta(days=1), tz))
    return query.order_by(Event.created_at.desc(), Event.id.desc())


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    pages: int
    total: int

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def numbers(self, around: int = 2) -> list[int | None]:
        """Page numbers to link, with None where a gap ("…") goes."""
        shown = {1, self.pages} | set(range(self.number - around, self.number + around + 1))
        result: list[int | None] = []
        previous = 0
        for number in sorted(n for n in shown if 1 <= n <= self.pages):
            if number - previous > 1:
                result.append(None)
            result.append(number)
            previous = number
        return result


def page_of(query, number: int, per_page: int = PER_PAGE) -> Page:
    """One page of the query; a page past the end shows the last one."""
    total = query.order_by(None).count()
    pages = max(1, math.ceil(total / per_page))
    number = min(max(1, number or 1), pages)
    items = query.offset((number - 1) * per_page).limit(per_page).all()
    return Page(items, number, pages, total)


# --- words ----------------------------------------------------------------------------------------
def kind_words(kind: str) -> str:
    return str(KIND_WORDS.get(kind, kind))


def stage_words(stage: str) -> str:
    return str(STAGE_WORDS.get(stage, stage))


def status_words(status: str) -> str:
    return str(STATUS_WORDS.get(status, status))


def reason_words(event: Event) -> str:
    """Why the event ended as it did, in plain words (a known code, else the stored text, else the error)."""
    reason = (event.reason or "").strip()
    if reason:
        code, _sep, detail = reason.partition(":")
        words = REASON_WORDS.get(code.strip())
        if words is not None:
            return f"{words} {detail.strip()}".strip()
        return reason
    if event.status == EventStatus.FAILED and event.last_error:
        return event.last_error.strip().splitlines()[0][:300]
    return ""


@dataclass(frozen=True)
class Visitor:
    name: str
    phone: str
    email: str
    message: str

    @property
    def empty(self) -> bool:
        return not (self.name or self.phone or self.email)


def visitor_of(payload: dict | None) -> Visitor:
    payload = payload or {}

    def text(key: str) -> str:
        value = payload.get(key)
        return str(value).strip() if value not in (None, "") else ""

    # A call's customer is its contact (the number that called or was called).
    return Visitor(text("visitor_name") or text("contact_full_name"),
                   text("visitor_phone_number") or text("contact_phone_number"), text("visitor_email"),
                   text("text") or text("visitor_message"))


# --- contacts masked for portal users who are not administrators ---------------------------------------
_EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# Russian numbers in any usual spelling, and any +-prefixed international number.
_PHONE_RE = re.compile(r"(?<!\d)(?:(?:\+?7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}|\+\d[\d\s-]{8,}\d)(?!\d)")
_CONTACT_KEYS = ("phone", "email", "mail")


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"{digits[:2]}*****{digits[-2:]}" if len(digits) >= 6 else "***"


def mask_email(value: str) -> str:
    name, sep, domain = value.partition("@")
    return f"{name[:1]}***@{domain}" if sep else "***"


def mask_contacts(text: str) -> str:
    """Phones and e-mails inside free text (a chat message, a form field) masked."""
    text = _EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)


def masked(value, key: str = ""):
    """A payload, plan or facts value with every phone and e-mail masked (by key, and inside texts)."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str):
        lowered = key.lower()
        if "mail" in lowered:
            return mask_email(value) if "@" in value else mask_contacts(value)
        if "phone" in lowered:
            return mask_phone(value) if value else value
        return mask_contacts(value)
    if isinstance(value, int) and "phone" in key.lower():
        return mask_phone(str(value))
    return value


class MaskedJournalView:
    """This module as the journal templates use it, with customers' phones and e-mails masked."""

    def visitor_of(self, payload: dict | None) -> Visitor:
        visitor = visitor_of(payload)
        return Visitor(visitor.name, mask_phone(visitor.phone) if visitor.phone else "",
                       mask_email(visitor.email) if visitor.email else "", mask_contacts(visitor.message))

    def __getattr__(self, name):
        return globals()[name]


@dataclass(frozen=True)
class EntityLink:
    label: str
    entity_id: int
    url: str | None


def _ids(value) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    ids = []
    for item in values:
        if isinstance(item, bool):
            continue
        try:
            number = int(str(item).strip())
        except (TypeError, ValueError):
            continue
        if number > 0:
            ids.append(number)
    return ids


def entity_links(result: dict | None, portal_url: str) -> list[EntityLink]:
    """Links to the Bitrix24 entities an event created (`lead_id`, `deal_id`, ... in its result)."""
    if not isinstance(result, dict):
        return []
    base = (portal_url or "").rstrip("/")
    links = []
    for key, (label, path) in ENTITY_PATHS.items():
        for plural in (key, key[:-3] + "_ids"):
            for entity_id in _ids(result.get(plural)):
                url = base + path.format(id=entity_id) if path and base else None
                links.append(EntityLink(str(label), entity_id, url))
    return links


# --- retry all failed events (an RQ job reporting progress) ---------------------------------------
def retry_scope(credential_id: int) -> str:
    return f"credential:{credential_id}"


def failed_event_ids(credential_id: int) -> list[int]:
    rows = (Event.query.filter(Event.credential_id == credential_id, Event.status == EventStatus.FAILED)
            .with_entities(Event.id).order_by(Event.id).all())
    return [row.id for row in rows]


def start_retry_all(credential_id: int) -> str:
    """Create the progress task, make it the credential's latest, and queue the job."""
    scope = retry_scope(credential_id)
    task_id = progress.start_task(RETRY_ALL_KIND, scope=scope, total=len(failed_event_ids(credential_id)))
    progress.remember(scope, RETRY_ALL_KIND, task_id)
    try:
        queues.retry_all_failed(credential_id, task_id)
    except Exception as exc:
        progress.fail(task_id, f"cannot queue: {exc}")
        raise
    return task_id


def retry_all_failed(credential_id: int, task_id: str) -> int:
    """Put every failed event of the credential back in the queue, a chunk at a time; returns how many."""
    try:
        ids = failed_event_ids(credential_id)
        progress.update(task_id, state=progress.RUNNING, total=len(ids), done=0)
        retried = 0
        for start in range(0, len(ids), RETRY_CHUNK):
            chunk = ids[start:start + RETRY_CHUNK]
            retried += len(intake.retry_events(credential_id, chunk))
            progress.update(task_id, advance=len(chunk))
        progress.finish(task_id, message=str(retried))
        return retried
    except Exception as exc:
        log.exception("retry of failed events of credential %s failed", credential_id)
        progress.fail(task_id, str(exc) or exc.__class__.__name__)
        raise
