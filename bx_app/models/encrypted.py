"""A column type that keeps secrets (OAuth and Data API tokens) encrypted at rest with Fernet."""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

_cipher: MultiFernet | None = None


def _fernet_from_secret(secret: str) -> Fernet:
    # A dedicated Fernet key is used as-is; anything else (SECRET_KEY) is stretched into one.
    try:
        return Fernet(secret.encode())
    except (ValueError, TypeError):
        digest = hashlib.sha256(b"bx_app token encryption\x00" + secret.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


def configure_cipher(encryption_keys: str, secret_key: str) -> None:
    """Set the process-wide cipher: comma-separated keys (newest first, older ones still decrypt)."""
    global _cipher
    keys = [k.strip() for k in (encryption_keys or "").split(",") if k.strip()]
    fernets = [_fernet_from_secret(k) for k in keys] or [_fernet_from_secret(secret_key)]
    _cipher = MultiFernet(fernets)


def encrypt(value: str) -> str:
    if _cipher is None:
        raise RuntimeError("token cipher is not configured (create_app does it)")
    return _cipher.encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if _cipher is None:
        raise RuntimeError("token cipher is not configured (create_app does it)")
    try:
        return _cipher.decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a stored secret cannot be decrypted: was SECRET_KEY or TOKEN_ENCRYPTION_KEY changed?") from exc


class EncryptedText(TypeDecorator):
    """Text encrypted on the way in, decrypted on the way out; None stays None."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return value
        return encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None or value == "":
            return value
        return decrypt(value)
