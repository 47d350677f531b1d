"""Every schema change is a migration: upgrading an empty database gives exactly the models' schema."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from bx_app import create_app
from bx_app.extensions import db
from tests.conftest import TEST_CONFIG


def test_migrations_match_the_models(tmp_path, redis_url):
    app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.db'}",
                          REDIS_URL=redis_url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == [], diff


def test_uis_local_times_become_utc_instants_on_upgrade(tmp_path, redis_url):
    """event.occurred_at / poll_cursor.cursor_at held the UIS account's wall clock; after the upgrade, UTC."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from bx_app.models import Event, PollCursor

    app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.db'}",
                          REDIS_URL=redis_url))
    with app.app_context():
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
