"""The benchmarks still run end to end (tiny sizes) and count what they promise: their figures are read by
people deciding on the design, so a benchmark that rotted is a defect. No timing is asserted here."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_e2e_benchmark_counts_every_push_from_the_portals_own_state():
    figures = run_benchmark("e2e.py", "--portals", "3", "--steady-seconds", "4", "--flood", "30", "--flood-seconds",
                            "1", "--database", "sqlite")

    for key in ("events", "portals", "workers", "lost", "duplicates", "steady_p50_ms", "steady_p99_ms",
                "flood_others_p99_ms", "flood_events", "flood_wall_s", "flood_bucket_min_s",
                "flood_requests_per_event", "flood_tail_s", "database", "cpu_ms_per_event"):
        assert key in figures, key
    assert figures["portals"] == 3 and figures["database"] == "sqlite"
    assert figures["flood_events"] == 30 and figures["steady_events"] == 3 * 2
    assert figures["lost"] == 0 and figures["duplicates"] == 0 and figures["failed_pushes"] == 0
    assert figures["cpu_ms_per_event"]["steady"]["workers"] > 0  # the meter found the worker processes


def test_intake_benchmark_runs_on_both_databases_and_stores_every_request():
    figures = run_benchmark("intake.py", "--requests", "60")

    assert figures["stored"] == 60 and figures["hook_errors"] == 0
    assert figures["postgresql"]["stored"] == 60 and figures["postgresql"]["hook_errors"] == 0
