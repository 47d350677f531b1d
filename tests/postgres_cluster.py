"""The tests' name for the throw-away PostgreSQL cluster, which lives in bx_app/devkit (benchmarks use it too)."""
from __future__ import annotations

import sys

from bx_app.devkit.postgres_cluster import (  # noqa: F401 - re-exported for the tests and scripts/test
    PostgresCluster,
    admin_connection,
    create_database,
    database_url,
    drop_database,
    main,
    server_bindir,
)

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
