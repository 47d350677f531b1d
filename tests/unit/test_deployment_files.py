"""compose.yaml and the Dockerfile agree with the README's "Production" section and with the app itself."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from bx_app import config as config_module

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "scheduler")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def production_readme() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Production")
    end = text.index("\n## ", start + 3)
    return text[start:end]


def _readme_table(section: str, heading: str) -> list[list[str]]:
    part = section[section.index(heading):]
    rows = []
    for line in part.splitlines()[1:]:
        if line.startswith("### "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header row


def _variables(cell: str) -> list[str]:
    return re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)


def test_compose_has_the_services_with_health_checks_and_volumes(compose):
    services = compose["services"]
    assert set(services) == {"migrate", "web", "worker", "scheduler", "postgres", "redis"}
    for name in ("web", "worker", "scheduler", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["redis"]["volumes"] == ["redis-data:/data"]
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}
    assert "--appendonly" in services["redis"]["command"]
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_compose_commands_are_the_readmes_and_exist_in_the_app(compose, production_readme):
    rows = _readme_table(production_readme, "### Processes and layout")
    readme_commands = [re.search(r"`([^`]+)`", row[1]).group(1) for row in rows if "`" in row[1]]
    services = compose["services"]
    for name in APP_SERVICES:
        command = " ".join(services[name]["command"])
        assert any(command.startswith(c) or c.startswith(command) for c in readme_commands), (name, command)
    assert services["web"]["command"][:2] == ["gunicorn", "wsgi:app"]
    assert services["worker"]["command"] == ["flask", "--app", "wsgi", "worker"]
    assert services["scheduler"]["command"] == ["flask", "--app", "wsgi", "scheduler"]
    assert services["migrate"]["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"


def test_the_cli_commands_compose_runs_are_registered(app):
    commands = set(app.cli.list_commands(None))
    assert {"worker", "scheduler", "rotate-keys"} <= commands


def test_compose_environment_is_the_readmes(compose, production_readme):
    rows = _readme_table(production_readme, "### Environment (production)")
    documented = {name: row for row in rows for name in _variables(row[0])}
    required = {name for name, row in documented.items() if "yes" in row[1]}
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert set(environment) <= set(documented), set(environment) - set(documented)
        # Every required variable is set, and the ones an operator supplies fail loudly when missing.
        assert required <= set(environment), required - set(environment)
        for variable in ("SECRET_KEY", "PUBLIC_URL", "B24_CLIENT_ID", "B24_CLIENT_SECRET"):
            assert environment[variable].startswith(f"${{{variable}:?"), variable
        assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "B24_ALLOW_INSECURE_PORTALS" not in environment


def test_every_documented_variable_is_one_the_app_reads(production_readme):
    source = (ROOT / "bx_app" / "config.py").read_text()
    compose_only = {"POSTGRES_PASSWORD", "WEB_PORT", "WEB_CONCURRENCY", "B24_ALLOW_INSECURE_PORTALS",
                    "B24_EXTRA_OAUTH_URLS"}
    for row in _readme_table(production_readme, "### Environment (production)"):
        for name in _variables(row[0]):
            assert f'"{name}"' in source or name in compose_only, name


def test_the_readmes_defaults_are_the_apps(production_readme, monkeypatch):
    for name in ("UIS_POLL_SECONDS", "LOG_LEVEL", "SWEEP_SECONDS", "EVENT_LOCK_SECONDS", "REDIS_URL", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    actual = config_module.from_environment()
    rows = {row[0]: row[2] for row in _readme_table(production_readme, "### Environment (production)")}
    assert rows["`UIS_POLL_SECONDS`"] == f"`{actual['UIS_POLL_SECONDS']}`"
    assert rows["`LOG_LEVEL`"] == f"`{actual['LOG_LEVEL']}`"
    assert rows["`SWEEP_SECONDS`, `EVENT_LOCK_SECONDS`"] == (
        f"`{actual['SWEEP_SECONDS']}`, `{actual['EVENT_LOCK_SECONDS']}`")
    assert rows["`REDIS_URL`"] == f"`{actual['REDIS_URL']}`"
    assert rows["`PUBLIC_URL`"] == f"`{actual['PUBLIC_URL']}`"


def test_dockerfile_runs_gunicorn_as_an_unprivileged_user():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    users = [arg.strip() for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    # The last USER comes before the command: the app never runs as root.
    ops = [op for op, _ in instructions]
    assert ops.index("CMD") > len(ops) - 1 - ops[::-1].index("USER")
    cmd = next(arg for op, arg in instructions if op == "CMD")
    assert shlex.split(cmd.replace('"', "").replace("[", "").replace("]", "").replace(",", ""))[:2] == [
        "gunicorn", "wsgi:app"]
    assert "HEALTHCHECK" in ops and "/healthz" in text
    for needed in ("bx_app", "migrations", "templates", "static", "translations", "wsgi.py"):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", text, flags=re.M), needed
