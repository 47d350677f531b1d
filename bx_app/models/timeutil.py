"""UTC-aware timestamps: the column type every stored time uses, "now", and UIS account-local conversions."""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

DEFAULT_ZONE = "Europe/Moscow"  # UIS's home zone: an account that never told us its zone is most likely here


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone_named(name: str | None, default: str = DEFAULT_ZONE) -> tzinfo:
    """A zone by its IANA name; an unknown or empty name gives `default` (then UTC)."""
    for candidate in (name, default):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def from_local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """A wall-clock time without an offset (how UIS sends times: in the account's zone) → aware UTC.

    An aware value already names its instant and is only converted.
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def to_local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """A stored instant → the wall-clock time in `zone`, without an offset (how the UIS Data API wants it).

    A naive value is taken as UTC (the old storage convention)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).replace(tzinfo=None)


class UtcDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back aware (UTC), on SQLite and PostgreSQL alike.

    PostgreSQL keeps `timestamp with time zone`; SQLite has no zones, so the UTC wall time is stored.
    A naive value written is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
