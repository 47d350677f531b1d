"""Settings from the environment, in one place, with documented defaults."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/oauth/token/"
DEFAULT_UIS_DATA_API_URL = "https://dataapi.uiscom.ru/v2.0"
DEFAULT_B24_JS_URL = "https://api.bitrix24.com/api/v1/"

# Authorization servers we trust for app.info checks, keyed by the SERVER_ENDPOINT a portal POSTs.
# A POST can only *select* one of these; it can never name a host of its own.
TRUSTED_OAUTH_SERVERS = {
    "https://oauth.bitrix.info/rest/": "https://oauth.bitrix.info/",
    "https://oauth.bitrix24.tech/rest/": "https://oauth.bitrix24.tech/",
}


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def sqlalchemy_url(url: str) -> str:
    """PostgreSQL URLs as operators write them (postgres://, postgresql://) use the installed psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _default_database_url() -> str:
    VAR_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{VAR_DIR / 'app.db'}"


# The public default of earlier versions: a key anyone can read signs nothing.
PUBLIC_SECRET_KEYS = {"dev-only-secret-change-me"}


class ConfigurationError(RuntimeError):
    """The environment does not let the app start safely (the message names the variable)."""


def development_secret_key() -> str:
    """Sandbox mode only: the key `./scripts/run` keeps in var/secret_key (made once, never public)."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(48) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def check_secret_key(config: dict) -> None:
    """Outside tests and the sandbox (B24_ALLOW_INSECURE_PORTALS) SECRET_KEY must be set and not public."""
    key = config.get("SECRET_KEY") or ""
    if config.get("TESTING"):
        return
    if not key and config.get("B24_ALLOW_INSECURE_PORTALS"):
        config["SECRET_KEY"] = development_secret_key()
        return
    if not key:
        raise ConfigurationError(
            "SECRET_KEY is not set. It signs admin sessions and derives the token encryption key: set it to "
            "a long random value, the same on every machine, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    if key in PUBLIC_SECRET_KEYS:
        raise ConfigurationError("SECRET_KEY is the public development default: set a random value of your own")


def from_environment() -> dict:
    """Build the Flask config mapping from environment variables."""
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "",
        "TOKEN_ENCRYPTION_KEY": os.environ.get("TOKEN_ENCRYPTION_KEY") or "",
        "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(os.environ.get("DATABASE_URL") or _default_database_url()),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "PUBLIC_URL": (os.environ.get("PUBLIC_URL") or "http://localhost:8000").rstrip("/"),
        "B24_CLIENT_ID": os.environ.get("B24_CLIENT_ID") or "",
        "B24_CLIENT_SECRET": os.environ.get("B24_CLIENT_SECRET") or "",
        "B24_OAUTH_URL": os.environ.get("B24_OAUTH_URL") or DEFAULT_OAUTH_URL,
        # Development: more authorization servers (token URLs, comma-separated) to trust besides Bitrix24's two
        # and B24_OAUTH_URL, e.g. the sandbox's second region.
        "B24_EXTRA_OAUTH_URLS": [url.strip() for url in (os.environ.get("B24_EXTRA_OAUTH_URLS") or "").split(",")
                                 if url.strip()],
        "B24_ALLOW_INSECURE_PORTALS": _flag("B24_ALLOW_INSECURE_PORTALS"),
        "B24_JS_URL": os.environ.get("B24_JS_URL") or DEFAULT_B24_JS_URL,
        "UIS_DATA_API_URL": os.environ.get("UIS_DATA_API_URL") or DEFAULT_UIS_DATA_API_URL,
        # INFO: one JSON line per processed event (logger bx_app.events); DEBUG adds RQ's per-job lines.
        "LOG_LEVEL": (os.environ.get("LOG_LEVEL") or "INFO").upper(),
        # How long to wait for a Bitrix24 answer (it cuts a call at 60 s); the fault suite shortens it.
        "B24_TIMEOUT_SECONDS": float(os.environ.get("B24_TIMEOUT_SECONDS") or 65),
        "UIS_POLL_SECONDS": int(os.environ.get("UIS_POLL_SECONDS") or 60),
        # How often stranded events (Redis was down, a worker was killed) are handed back to the queue.
        "SWEEP_SECONDS": int(os.environ.get("SWEEP_SECONDS") or 30),
        # How long a signed iframe session stays valid; the open page renews it with the portal's own
        # auth every APP_SESSION_RENEW_SECONDS, re-reading the user's admin flag each time.
        "APP_SESSION_SECONDS": int(os.environ.get("APP_SESSION_SECONDS") or 15 * 60),
        "APP_SESSION_RENEW_SECONDS": int(os.environ.get("APP_SESSION_RENEW_SECONDS") or 4 * 60),
        "INSTALL_CLAIM_SECONDS": int(os.environ.get("INSTALL_CLAIM_SECONDS") or 7 * 24 * 3600),
        # A worker killed mid-event holds its event this long before the sweeper hands it to another.
        "EVENT_LOCK_SECONDS": int(os.environ.get("EVENT_LOCK_SECONDS") or 300),
        "HOOK_MAX_BYTES": 1024 * 1024,
        # Customers' personal data in the journal (payloads, transcripts) is pruned after this many days.
        "PERSONAL_DATA_DAYS": int(os.environ.get("PERSONAL_DATA_DAYS") or 30),
        # An uninstalled portal's data is deleted after this many days (at once with "delete data").
        "UNINSTALL_GRACE_DAYS": int(os.environ.get("UNINSTALL_GRACE_DAYS") or 30),
        # Rate limits (Flask-Limiter notation); see bx_app/web/rate_limits.py for what each one guards.
        "RATELIMIT_SIGN_IN_ADDRESS": os.environ.get("RATELIMIT_SIGN_IN_ADDRESS") or "10 per minute;100 per hour",
        "RATELIMIT_SIGN_IN_KEY": os.environ.get("RATELIMIT_SIGN_IN_KEY") or "5 per minute;30 per hour",
        "RATELIMIT_CONNECT": os.environ.get("RATELIMIT_CONNECT") or "20 per minute",
        "RATELIMIT_PORTAL_POST": os.environ.get("RATELIMIT_PORTAL_POST") or "120 per minute",
        "RATELIMIT_HOOK": os.environ.get("RATELIMIT_HOOK") or "6000 per minute",
        # Reverse proxies in front of the app whose X-Forwarded-For is trusted (0: use the peer address).
        "TRUSTED_PROXY_HOPS": int(os.environ.get("TRUSTED_PROXY_HOPS") or 0),
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
    }
