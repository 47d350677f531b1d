"""every stored time is a UTC instant: timestamptz on PostgreSQL; UIS-local times converted to UTC

Revision ID: 5c1e7a9d3b20
Revises: 09290e7e0a7d
Create Date: 2026-11-29 19:55:00

event.occurred_at and poll_cursor.cursor_at held the UIS account's wall-clock time (no offset); they are
converted with the account's zone (get.account timezone, Europe/Moscow when unknown). Every other column
already held UTC. On SQLite the column type does not change (it has no zones): the app reads UTC back.
"""
from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c1e7a9d3b20'
down_revision = '09290e7e0a7d'
branch_labels = None
depends_on = None

TIMESTAMPS = {
    "portal": ["expires_at", "installed_at", "uninstalled_at", "token_refreshed_at", "created_at", "updated_at"],
    "uis_account": ["created_at", "updated_at"],
    "credential": ["created_at", "updated_at"],
    "channel_settings": ["updated_at"],
    "event": ["occurred_at", "enqueued_at", "processed_at", "created_at", "updated_at"],
    "install_claim": ["created_at", "used_at"],
    "poll_cursor": ["cursor_at", "last_run_at", "updated_at"],
    "employee_link": ["updated_at"],
    "reference_data": ["synced_at"],
}
# Columns that held the UIS account's wall clock rather than UTC.
ACCOUNT_LOCAL = {"event": "occurred_at", "poll_cursor": "cursor_at"}


def _zone(name):
    try:
        return ZoneInfo(name or "Europe/Moscow")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Moscow")


def _shift_account_local(to_utc: bool) -> None:
    bind = op.get_bind()
    credential = sa.table("credential", sa.column("id", sa.Integer), sa.column("uis_account_id", sa.Integer))
    account = sa.table("uis_account", sa.column("id", sa.Integer), sa.column("timezone", sa.String))
    for table_name, column_name in ACCOUNT_LOCAL.items():
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("credential_id", sa.Integer),
                         sa.column(column_name, sa.DateTime))
        column = table.c[column_name]
        rows = bind.execute(
            sa.select(table.c.id, column, account.c.timezone)
            .select_from(table.join(credential, credential.c.id == table.c.credential_id)
                         .outerjoin(account, account.c.id == credential.c.uis_account_id))
            .where(column.isnot(None))).all()
        for row_id, moment, zone_name in rows:
            zone = _zone(zone_name)
            if to_utc:
                moved = moment.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
            else:
                moved = moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
            bind.execute(table.update().where(table.c.id == row_id).values({column_name: moved}))


def upgrade():
    _shift_account_local(to_utc=True)
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TIMESTAMPS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.DateTime(timezone=True), existing_type=sa.DateTime(),
                                postgresql_using=f"{column} AT TIME ZONE 'UTC'")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TIMESTAMPS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.DateTime(), existing_type=sa.DateTime(timezone=True),
                                postgresql_using=f"{column} AT TIME ZONE 'UTC'")
    _shift_account_local(to_utc=False)
