"""`flask --app wsgi rotate-keys`: re-encrypt every stored secret with the newest token encryption key."""
from __future__ import annotations

import click
from flask import Flask

from bx_app.extensions import db
from bx_app.models.encrypted import rotate_stored_secrets


def register_key_commands(app: Flask) -> None:
    @app.cli.command("rotate-keys")
    def rotate_keys() -> None:
        """Re-encrypt all stored tokens with the first key of TOKEN_ENCRYPTION_KEY (one transaction).

        Rotation: put a new key first in TOKEN_ENCRYPTION_KEY (comma-separated, newest first), restart
        the processes, run this command, then drop the old key.
        """
        with db.engine.begin() as connection:
            counts = rotate_stored_secrets(connection, db.metadata)
        for column, count in counts.items():
            click.echo(f"{column}: {count} re-encrypted")
        click.echo(f"done: {sum(counts.values())} secrets now use the newest key")
