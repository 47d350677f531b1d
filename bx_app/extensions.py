"""Flask extensions and the Redis connection, created once and bound in the app factory."""
from __future__ import annotations

from flask import current_app, has_app_context
from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from sqlalchemy import MetaData

# Stable constraint names so Alembic migrations work on SQLite and PostgreSQL alike.
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming_convention))
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()

_redis_clients: dict[str, Redis] = {}


def redis_connection(url: str | None = None) -> Redis:
    """One Redis client per URL per process (clients pool their own connections)."""
    if url is None:
        url = current_app.config["REDIS_URL"] if has_app_context() else "redis://127.0.0.1:6379/0"
    client = _redis_clients.get(url)
    if client is None:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
        _redis_clients[url] = client
    return client
