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
