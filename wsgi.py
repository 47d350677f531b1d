"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi db upgrade|worker|scheduler|rotate-keys`."""
import sys

from bx_app import create_app
from bx_app.config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as exc:
    print(f"bx_app cannot start: {exc}", file=sys.stderr, flush=True)
    # 3 is gunicorn's "worker failed to boot": the arbiter stops instead of respawning workers forever.
    raise SystemExit(3) from None
