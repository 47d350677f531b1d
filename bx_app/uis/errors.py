"""Typed errors of the UIS Data API (JSON-RPC codes and mnemonics) with plain-words explanations."""
from __future__ import annotations

import re
from typing import Any

UIS_API_SETTINGS_PATH_RU = "Администратор → Аккаунт → Правила и настройки безопасности → API"
UIS_API_SETTINGS_PATH_EN = "Administrator → Account → Security rules and settings → API"


class UisError(Exception):
    """An error reply of the Data API, or a failure to get one (transport)."""

    code: int | None = None
    mnemonic: str = ""
    # Retrying the same request may succeed (server hiccup); False means a person must act first.
    retryable: bool = False
    # The customer must change something in the UIS cabinet (allow-list, components, new key...).
    needs_customer_action: bool = False
    ru: str = "Ошибка UIS Data API: {message}"
    en: str = "UIS Data API error: {message}"

    def __init__(self, code: int | None = None, mnemonic: str | None = None, message: str = "",
                 data: dict | None = None):
        self.code = code if code is not None else type(self).code
        self.mnemonic = mnemonic or type(self).mnemonic
        self.message = message or ""
        self.data = dict(data or {})
        super().__init__(self.__str__())

    def __reduce__(self):
        # Jobs pickle exceptions; rebuild from attributes since subclasses take different arguments.
        return (_rebuild, (type(self), self.code, self.mnemonic, self.message, self.data))

    def __str__(self) -> str:
        parts = [str(self.code) if self.code is not None else "", self.mnemonic, self.message]
        return " ".join(p for p in parts if p)

    @property
    def field(self) -> str | None:
        return self.data.get("field")

    @property
    def value(self) -> Any:
        return self.data.get("value")

    @property
    def params(self) -> dict:
        params = self.data.get("params")
        return params if isinstance(params, dict) else {}

    @property
    def metadata(self) -> dict:
        metadata = self.data.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def limits(self) -> dict:
        limits = self.metadata.get("limits")
        return limits if isinstance(limits, dict) else {}

    def _template_values(self) -> dict:
        return {"message": self.message or self.mnemonic or "?", "field": self.field or "?",
                "value": self.value if self.value is not None else "?", "mnemonic": self.mnemonic}

    def user_message(self, lang: str = "ru") -> str:
        """What the UI shows: what happened and what to do, in Russian (default) or English."""
        template = self.en if (lang or "ru").lower().startswith("en") else self.ru
        return template.format(**self._template_values())

    def to_dict(self) -> dict:
        """For the journal: enough to rebuild the error with `error_from_envelope`."""
        return {"code": self.code, "message": self.message, "data": dict(self.data, mnemonic=self.mnemonic)}


class TransportError(UisError):
    """No usable JSON-RPC reply: timeout, connection error, HTTP 5xx or a body that is not JSON-RPC."""

    retryable = True
    ru = "UIS не ответил ({message}). Попробуем ещё раз позже."
    en = "UIS did not answer ({message}). We will try again later."

    def __init__(self, message: str = "", status: int | None = None):
        super().__init__(None, "transport_error", message, {"http_status": status} if status else None)
        self.status = status


class ParseError(UisError):
    code, mnemonic = -32700, "parse_error"
    ru = "UIS не смог разобрать запрос приложения (ошибка приложения, сообщите в поддержку)."
    en = "UIS could not parse the app's request (an app bug, please contact support)."


class InvalidRequest(UisError):
    code, mnemonic = -32600, "invalid_request"
    ru = "UIS отклонил запрос как неверный (ошибка приложения, сообщите в поддержку)."
    en = "UIS rejected the request as invalid (an app bug, please contact support)."


class MethodNotFound(UisError):
    code, mnemonic = -32601, "method_not_found"
    ru = "Метод UIS Data API «{value}» не существует или недоступен."
    en = "The UIS Data API method “{value}” does not exist or is not available."


class InvalidParams(UisError):
    """-32602: the request's parameters are wrong: our bug or a setting; never retried as is."""

    code, mnemonic = -32602, "invalid_parameters"
    ru = "UIS отклонил параметры запроса: {message} (поле {field})."
    en = "UIS rejected the request parameters: {message} (field {field})."


class RequiredParameterMissed(InvalidParams):
    mnemonic = "required_parameter_missed"
    ru = "В запросе к UIS не хватает обязательного параметра «{field}»."
    en = "The request to UIS lacks the required parameter “{field}”."


class InvalidParameterValue(InvalidParams):
    mnemonic = "invalid_parameter_value"
    ru = "UIS не принял значение «{value}» параметра «{field}»."
    en = "UIS did not accept the value “{value}” of the parameter “{field}”."


class DataTypeError(InvalidParams):
    mnemonic = "data_type_error"
    ru = "Параметр «{field}» запроса к UIS имеет неверный тип."
    en = "The parameter “{field}” of the request to UIS has a wrong type."


class UnexpectedParameters(InvalidParams):
    mnemonic = "unexpected_parameters"
    ru = "UIS не знает параметр «{field}» запроса."
    en = "UIS does not know the request parameter “{field}”."


class InvalidParametersCombination(InvalidParams):
    mnemonic = "invalid_parameters_combination"
    ru = "UIS не принимает такое сочетание параметров запроса: {message}."
    en = "UIS does not accept this combination of request parameters: {message}."


class FilterProhibited(InvalidParams):
    mnemonic = "filter_prohibited"
    ru = "UIS не разрешает фильтровать по полю «{value}»."
    en = "UIS does not allow filtering by the field “{value}”."


class SortProhibited(InvalidParams):
    mnemonic = "sort_prohibited"
    ru = "UIS не разрешает сортировать по полю «{value}»."
    en = "UIS does not allow sorting by the field “{value}”."


class DateIntervalLimitReached(InvalidParams):
    mnemonic = "date_interval_limit_reached"
    ru = "Слишком длинный период для отчёта UIS: {message}. Выберите период короче."
    en = "The period of the UIS report is too long: {message}. Choose a shorter period."


class InternalError(UisError):
    code, mnemonic = -32603, "internal_error"
    retryable = True
    ru = "Внутренняя ошибка UIS. Повторим запрос позже."
    en = "UIS internal error. We will retry later."


class AuthError(UisError):
    """-32001: the key or the login is not accepted."""

    code, mnemonic = -32001, "auth_error"
    needs_customer_action = True
    ru = "UIS не принял ключ доступа. Создайте новый ключ Data API в кабинете UIS и укажите его в настройках."
    en = "UIS did not accept the access key. Create a new Data API key in the UIS cabinet and enter it in the settings."


class AccessTokenExpired(AuthError):
    mnemonic = "access_token_expired"
    ru = "Срок действия ключа UIS Data API истёк. Создайте новый ключ в кабинете UIS (Управление пользователями) и укажите его в настройках."
    en = "The UIS Data API key has expired. Create a new key in the UIS cabinet (User management) and enter it in the settings."


class AccessTokenBlocked(AuthError):
    mnemonic = "access_token_blocked"
    ru = "Ключ UIS Data API заблокирован. Разблокируйте его или создайте новый в кабинете UIS и укажите его в настройках."
    en = "The UIS Data API key is blocked. Unblock it or create a new one in the UIS cabinet and enter it in the settings."


class AccessTokenInvalid(AuthError):
    mnemonic = "access_token_invalid"
    ru = "Ключ UIS Data API неверен. Проверьте, что он скопирован полностью, или создайте новый в кабинете UIS."
    en = "The UIS Data API key is invalid. Check that it was copied in full, or create a new one in the UIS cabinet."


class WrongLogin(AuthError):
    mnemonic = "auth_error"
    ru = "Неверный логин или пароль UIS."
    en = "Wrong UIS login or password."


class AccessDenied(UisError):
    """-32003: the account refuses this caller."""

    code, mnemonic = -32003, "forbidden"
    needs_customer_action = True


_IP_IN_MESSAGE = re.compile(r"IP\s+([0-9A-Fa-f:.]+)")


class IpNotWhitelisted(AccessDenied):
    mnemonic = "ip_not_whitelisted"
    ru = f"UIS не пускает запросы с IP {{ip}}. Добавьте IP {{ip}} в список разрешённых в UIS: {UIS_API_SETTINGS_PATH_RU}."
    en = f"UIS refuses requests from IP {{ip}}. Add IP {{ip}} to the allowed list in UIS: {UIS_API_SETTINGS_PATH_EN}."

    @property
    def ip(self) -> str | None:
        ip = self.params.get("ip")
        if ip:
            return str(ip)
        found = _IP_IN_MESSAGE.search(self.message or "")
        return found.group(1) if found else None

    def _template_values(self) -> dict:
        return dict(super()._template_values(), ip=self.ip or "?")


class Forbidden(AccessDenied):
    mnemonic = "forbidden"
    ru = "У пользователя UIS, чей ключ указан, нет прав на это действие. Выдайте права в кабинете UIS или используйте ключ администратора."
    en = "The UIS user whose key is used lacks the rights for this action. Grant them in the UIS cabinet or use an administrator's key."


class ComponentDisabled(UisError):
    code, mnemonic = -32008, "method_component_disabled"
    needs_customer_action = True
    ru = "В аккаунте UIS не подключён нужный компонент ({components}). Подключите его: Администратор → Аккаунт → Тарифы и опции."
    en = "The UIS account lacks a required component ({components}). Enable it: Administrator → Account → Tariffs and options."

    @property
    def components(self) -> list[str]:
        raw = self.params.get("components")
        if isinstance(raw, list):
            return [str(c) for c in raw]
        if isinstance(raw, str):
            return [c.strip() for c in raw.split(",") if c.strip()]
        found = re.search(r":\s*(.+)$", self.message or "")
        return [c.strip() for c in found.group(1).split(",")] if found else []

    def _template_values(self) -> dict:
        return dict(super()._template_values(), components=", ".join(self.components) or "?")


class AccountInactive(UisError):
    code, mnemonic = -32009, "account_inactive"
    needs_customer_action = True
    ru = "Аккаунт UIS неактивен (например, заблокирован за неуплату). Обратитесь в UIS."
    en = "The UIS account is inactive (for example, blocked for non-payment). Contact UIS."


class LimitExceeded(UisError):
    """-32029: the per-minute or per-day budget of points is spent."""

    code, mnemonic = -32029, "limit_exceeded"
    ru = "Исчерпан лимит запросов к UIS Data API на {period_ru} ({limit}). Продолжим через {reset} с."
    en = "The UIS Data API request limit per {limit_type} ({limit}) is spent. We continue in {reset} s."

    @property
    def limit_type(self) -> str:
        kind = self.params.get("limit_type")
        if not kind:
            found = re.search(r"per (\w+)", self.message or "")
            kind = found.group(1) if found else "minute"
        return str(kind)

    @property
    def per_day(self) -> bool:
        return self.limit_type == "day"

    @property
    def limit_max_value(self) -> int | None:
        value = self.params.get("limit_max_value")
        if value is None:
            value = self.limits.get(f"{self.limit_type}_limit")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def reset_seconds(self) -> int:
        """Seconds until the spent budget refills (from metadata.limits; a safe guess when absent)."""
        value = self.limits.get(f"{self.limit_type}_reset")
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            return 86400 if self.per_day else 60

    def _template_values(self) -> dict:
        return dict(super()._template_values(), limit_type=self.limit_type, reset=self.reset_seconds,
                    limit=self.limit_max_value if self.limit_max_value is not None else "?",
                    period_ru="сутки" if self.per_day else "минуту")


class BatchNotSupported(UisError):
    code, mnemonic = -32099, "batch_operations_not_supported"
    ru = "UIS не принимает пакетные запросы (ошибка приложения, сообщите в поддержку)."
    en = "UIS does not accept batch requests (an app bug, please contact support)."


class NotificationsNotSupported(BatchNotSupported):
    mnemonic = "notifications_not_supported"
    ru = "UIS не принимает запросы без id (ошибка приложения, сообщите в поддержку)."
    en = "UIS does not accept requests without an id (an app bug, please contact support)."


def _rebuild(cls: type[UisError], code, mnemonic, message, data) -> UisError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.code, error.mnemonic, error.message, error.data = code, mnemonic, message, data
    if isinstance(error, TransportError):
        error.status = data.get("http_status")
    return error


_BY_MNEMONIC: dict[tuple[int, str], type[UisError]] = {}
for _cls in (ParseError, InvalidRequest, MethodNotFound, RequiredParameterMissed, InvalidParameterValue,
             DataTypeError, UnexpectedParameters, InvalidParametersCombination, FilterProhibited, SortProhibited,
             DateIntervalLimitReached, InternalError, AccessTokenExpired, AccessTokenBlocked, AccessTokenInvalid,
             WrongLogin, IpNotWhitelisted, Forbidden, AccountInactive, LimitExceeded, BatchNotSupported,
             NotificationsNotSupported):
    _BY_MNEMONIC[(_cls.code, _cls.mnemonic)] = _cls
_BY_MNEMONIC[(-32008, "parameter_component_disabled")] = ComponentDisabled
_BY_MNEMONIC[(-32008, "method_component_disabled")] = ComponentDisabled
# The Russian doc page spells it this way; accept both.
_BY_MNEMONIC[(-32099, "batch_opreations_not_supported")] = BatchNotSupported

_BY_CODE: dict[int, type[UisError]] = {
    -32700: ParseError, -32600: InvalidRequest, -32601: MethodNotFound, -32602: InvalidParams,
    -32603: InternalError, -32001: AuthError, -32003: AccessDenied, -32008: ComponentDisabled,
    -32009: AccountInactive, -32029: LimitExceeded, -32099: BatchNotSupported,
}


def error_class(code: int | None, mnemonic: str | None) -> type[UisError]:
    """The most specific class for a code and mnemonic (the mnemonic wins; codes are shared)."""
    if (code, mnemonic) in _BY_MNEMONIC:
        return _BY_MNEMONIC[(code, mnemonic)]
    if code in _BY_CODE:
        return _BY_CODE[code]
    for (_code, known), cls in _BY_MNEMONIC.items():
        if known == mnemonic:
            return cls
    return UisError


def error_from_envelope(envelope: dict) -> UisError:
    """Build the typed error from a whole JSON-RPC reply or from its `error` object."""
    error = envelope.get("error", envelope) if isinstance(envelope, dict) else {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    code = error.get("code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    mnemonic = data.get("mnemonic")
    cls = error_class(code, mnemonic)
    return cls(code, mnemonic, str(error.get("message") or ""), data)
