"""Every schema change is a migration, on SQLite and PostgreSQL alike (run the suite with --db postgresql).

Upgrading an empty database gives exactly the models' schema; `downgrade base` removes every table and
`upgrade head` brings the same schema back; the history has one head.
"""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from bx_app import create_app
from bx_app.extensions import db, migrate
from tests.conftest import TEST_CONFIG


@pytest.fixture
def empty_app(empty_database_url, redis_url):
    app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=empty_database_url, REDIS_URL=redis_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _schema_differences() -> list:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def _tables() -> set[str]:
    db.engine.dispose()  # a fresh look, not a cached inspector
    return set(inspect(db.engine).get_table_names())


def test_upgrade_from_empty_gives_exactly_the_models_schema(empty_app):
    upgrade()
    assert _schema_differences() == []
    assert _tables() == set(db.metadata.tables) | {"alembic_version"}


def test_downgrade_to_base_removes_everything_and_upgrade_brings_it_back(empty_app):
    upgrade()
    downgrade(revision="base")
    assert _tables() <= {"alembic_version"}
    upgrade()
    assert _schema_differences() == []


def test_the_migration_history_has_one_head(empty_app):
    config = migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads


def test_uis_local_times_become_utc_instants_on_upgrade(empty_app):
    """event.occurred_at / poll_cursor.cursor_at held the UIS account's wall clock; after the upgrade, UTC."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from bx_app.models import Event, PollCursor

    upgrade(revision="09290e7e0a7d")
    with db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO uis_account (id, app_id, name, timezone, status, created_at, updated_at) "
            "VALUES (1, 7, 'A', 'Asia/Yekaterinburg', 'ok', '2026-11-29 10:00:00', '2026-11-29 10:00:00')"))
        connection.execute(text(
            "INSERT INTO portal (id, member_id, domain, client_endpoint, status, lang, rate_per_second,"
            " bucket_size, created_at, updated_at) VALUES (1, 'm', 'p.bitrix24.ru', 'https://p.bitrix24.ru/rest/',"
            " 'installed', 'ru', 2, 50, '2026-11-29 10:00:00', '2026-11-29 10:00:00')"))
        connection.execute(text(
            "INSERT INTO credential (id, name, portal_id, hook_token, origin, uis_account_id, created_at,"
            " updated_at) VALUES (1, 'c', 1, 'h', 'uis', 1, '2026-11-29 10:00:00', '2026-11-29 10:00:00')"))
        connection.execute(text(
            "INSERT INTO event (id, credential_id, kind, stage, external_id, dedupe_key, source, payload, status,"
            " attempts, occurred_at, created_at, updated_at) VALUES (1, 1, 'chat', 'finished', '5', 'k', 'push',"
            " '{}', 'done', 0, '2026-11-29 14:30:00.000000', '2026-11-29 09:31:00.000000',"
            " '2026-11-29 09:31:00.000000')"))
        connection.execute(text(
            "INSERT INTO poll_cursor (id, credential_id, stream, cursor_at, updated_at) "
            "VALUES (1, 1, 'chats', '2026-11-29 15:00:00.000000', '2026-11-29 10:00:00.000000')"))
    upgrade()
    event, cursor = db.session.get(Event, 1), db.session.get(PollCursor, 1)
    assert event.occurred_at == datetime(2026, 11, 29, 9, 30, tzinfo=UTC)  # 14:30 in Yekaterinburg (UTC+5)
    assert event.created_at == datetime(2026, 11, 29, 9, 31, tzinfo=UTC)  # was UTC already
    assert cursor.cursor_at == datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
