# Shared by scripts/run and scripts/test: the venv, Python packages and Debian packages they need.
# Sourced, not executed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

_apt_updated=0
apt_install() {
  # apt_install <command-to-check> <package>...
  local check="$1"; shift
  if command -v "$check" >/dev/null 2>&1; then return 0; fi
  echo "==> installing $* (apt)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ "$_apt_updated" = 0 ]; then $sudo apt-get update -qq; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

postgres_server_installed() {
  # Debian keeps the server binaries (initdb, pg_ctl) out of PATH, in /usr/lib/postgresql/NN/bin.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1
}

ensure_venv() {
  # ensure_venv <extras>: create the venv and install the project when pyproject.toml changed
  local extras="$1" target="$ROOT"
  [ -n "$extras" ] && target="$ROOT[$extras]"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating the virtual environment in .venv"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-${extras:-base}"
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing Python packages (${extras:-base})"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$target" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import flask, rq, authlib" >/dev/null
    echo "$want" > "$stamp"
  fi
}
