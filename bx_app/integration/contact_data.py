"""Visitor contact data: phone numbers in E.164 and e-mails as Bitrix24 multi-fields."""
from __future__ import annotations

import re

import phonenumbers

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_phone(raw, default_region: str = "RU") -> str | None:
    """A phone in E.164 (`+79161234567`), or None when it is not a plausible number.

    UIS gives numbers as digits without "+" (`79167778899`), sometimes as JSON numbers, and visitors
    type anything (`8 (916) 777-88-99`).
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    candidates = [text]
    if not text.startswith("+"):
        if len(digits) == 11 and digits[0] == "8" and default_region == "RU":
            candidates.insert(0, "+7" + digits[1:])
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalise_email(raw) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    if not text or not _EMAIL_RE.match(text):
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def phone_multifield(phone: str | None) -> list[dict]:
    return [{"VALUE": phone, "VALUE_TYPE": "WORK"}] if phone else []


def email_multifield(email: str | None) -> list[dict]:
    return [{"VALUE": email, "VALUE_TYPE": "WORK"}] if email else []
