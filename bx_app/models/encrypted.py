"""A column type that keeps secrets (OAuth and Data API tokens) encrypted at rest with Fernet."""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import MetaData, Text, text
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
    """Set the process-wide cipher: comma-separated keys, newest first (it encrypts), older ones decrypt.

    The key derived from SECRET_KEY always comes last, so that moving from the derived key to a
    TOKEN_ENCRYPTION_KEY needs no more than `flask --app wsgi rotate-keys`.
    """
    global _cipher
    keys = [k.strip() for k in (encryption_keys or "").split(",") if k.strip()]
    fernets = [_fernet_from_secret(k) for k in keys]
    if secret_key:
        fernets.append(_fernet_from_secret(secret_key))
    if not fernets:
        raise ValueError("no key to encrypt tokens with: set SECRET_KEY or TOKEN_ENCRYPTION_KEY")
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


def encrypted_columns(metadata: MetaData) -> list[tuple[str, str]]:
    """(table, column) of every EncryptedText column of the models."""
    return [(table.name, column.name) for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, EncryptedText)]


def unreadable_secret(connection, metadata: MetaData) -> str | None:
    """None when a stored secret of each encrypted column decrypts with the configured keys, else which one.

    Checked by every process at start: a changed SECRET_KEY or a dropped TOKEN_ENCRYPTION_KEY must stop
    the app at once rather than surface as failing portals hours later.
    """
    for table, column in encrypted_columns(metadata):
        stored = connection.execute(text(
            f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> '' "
            f"ORDER BY id DESC LIMIT 1")).first()
        if stored is None:
            continue
        try:
            _cipher.decrypt(stored[1].encode())
        except InvalidToken:
            return f"{table}.{column} of row {stored[0]}"
    return None


def rotate_stored_secrets(connection, metadata: MetaData) -> dict[str, int]:
    """Re-encrypt every stored secret with the newest key; counts per table.column. Idempotent."""
    if _cipher is None:
        raise RuntimeError("token cipher is not configured (create_app does it)")
    counts = {}
    for table, column in encrypted_columns(metadata):
        rows = connection.execute(text(
            f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> ''")).all()
        for row_id, value in rows:
            try:
                rotated = _cipher.rotate(value.encode()).decode()
            except InvalidToken as exc:
                raise RuntimeError(f"{table}.{column} of row {row_id} cannot be decrypted with any "
                                   "configured key; nothing was changed for it") from exc
            connection.execute(text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                               {"value": rotated, "id": row_id})
        counts[f"{table}.{column}"] = len(rows)
    return counts


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
