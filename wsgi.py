"""The deployment's entry point: `gunicorn wsgi:app`, and `flask --app wsgi db upgrade|worker|scheduler|rotate-keys`."""
import sys

from bx_app import create_app
from bx_app.cli import register_commands
from bx_app.config import ConfigurationError
from bx_app.key_rotation import register_key_commands

try:
    app = create_app()
except ConfigurationError as exc:
    print(f"bx_app cannot start: {exc}", file=sys.stderr, flush=True)
    # 3 is gunicorn's "worker failed to boot": the arbiter stops instead of respawning workers forever.
    raise SystemExit(3) from None
register_commands(app)
register_key_commands(app)
