"""The layers hold: imports go one way (entry points → services → clients/models), no cycle, pure planning.

Read from the source with `ast`, every import counts (module-level and function-level alike):
- entry points: the app factory (`bx_app`), `bx_app.cli`, `bx_app.jobs`, `bx_app.web.*`; nothing imports them
  except the factory, which assembles the web layer;
- services (`bx_app.<module>`, `bx_app.engine.*`) never import an entry point; they hand work to workers only
  through `bx_app.queues`, which names job entry points by path;
- `bx_app.integration.*` imports nothing of Flask, SQLAlchemy, requests, Redis, RQ or the models, and no
  `bx_app` module outside itself but the channel registry (words are passed in, not looked up);
- clients (`bx_app.bitrix`, `bx_app.uis`, their shared `bx_app.outbound` policy) know nothing of Flask, the models or the services;
- `bx_app.devkit` (development and benchmark builders) and `bx_app.sandbox` are never imported by production
  code; the sandbox imports nothing of bx_app outside itself;
- function-level imports are few (at most a dozen) and each says why on the line above.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bx_app"
FUNCTION_IMPORTS_MAX = 12
ENTRY = ("bx_app", "bx_app.cli", "bx_app.jobs", "bx_app.web")
CLIENTS = ("bx_app.bitrix", "bx_app.uis", "bx_app.outbound")  # outbound: the address policy they share
REGISTRY = "bx_app.channels"  # the channel registry: plain data at the bottom, read by every layer
IMPURE = ("flask", "flask_babel", "flask_sqlalchemy", "flask_wtf", "sqlalchemy", "requests", "redis", "rq",
          "bx_app.models", "bx_app.extensions")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> list[tuple[str, str, bool, int, Path]]:
    """(importer, imported, inside a function, line, file) for every import under bx_app/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node, in_function: bool, module=module, path=path):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    visit(child, True)
                elif isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                    continue
                elif isinstance(child, ast.Import):
                    found.extend((module, alias.name, in_function, child.lineno, path) for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    target = _resolve(module, child, path.name == "__init__.py")
                    for alias in child.names:
                        # `from bx_app import jobs` imports the module bx_app.jobs
                        candidate = f"{target}.{alias.name}"
                        is_module = (ROOT / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                            (ROOT / Path(*candidate.split(".")) / "__init__.py").exists()
                        found.append((module, candidate if is_module else target, in_function, child.lineno, path))
                else:
                    visit(child, in_function)

        visit(tree, False)
    return found


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in ([prefixes] if isinstance(prefixes, str)
                                                                    else prefixes))


def _is_entry(module: str) -> bool:
    return module == "bx_app" or _within(module, ENTRY[1:])


def _internal():
    return [(a, b, f, line, p) for a, b, f, line, p in _imports() if _within(b, "bx_app") and a != b]


def test_no_import_cycle_among_bx_app_modules():
    graph: dict[str, set[str]] = {}
    for importer, imported, _f, _line, _path in _internal():
        if not _within(importer, "bx_app.sandbox"):  # the sandbox is its own program (its own rules below)
            graph.setdefault(importer, set()).add(imported)
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_services_and_below_never_import_an_entry_point():
    breaches = [f"{a} → {b} ({p.name}:{line})" for a, b, _f, line, p in _internal()
                if _is_entry(b) and not _is_entry(a) and not _within(a, "bx_app.devkit")]
    # The factory assembles the web layer; the web layer never reaches for the jobs or the CLI.
    breaches += [f"{a} → {b} ({p.name}:{line})" for a, b, _f, line, p in _internal()
                 if _within(a, "bx_app.web") and _within(b, ("bx_app.jobs", "bx_app.cli"))]
    assert breaches == []


def test_integration_is_pure():
    breaches = [f"{a} → {b} ({p.name}:{line})" for a, b, _f, line, p in _imports()
                if _within(a, "bx_app.integration") and (_within(b, IMPURE) or (
                    _within(b, "bx_app") and not _within(b, ("bx_app.integration", REGISTRY))))]
    assert breaches == []


def test_the_channel_registry_is_plain_data_every_layer_may_read():
    assert {b for a, b, _f, _l, _p in _imports() if a == REGISTRY} <= {"__future__", "dataclasses"}


def test_clients_know_nothing_of_flask_models_or_services():
    breaches = [f"{a} → {b} ({p.name}:{line})" for a, b, _f, line, p in _imports()
                if _within(a, CLIENTS) and (_within(b, ("flask", "flask_babel", "bx_app.models", "bx_app.extensions"))
                                            or (_within(b, "bx_app") and not _within(b, (*CLIENTS, REGISTRY))))]
    assert breaches == []


def test_devkit_and_sandbox_stay_out_of_production():
    production = [(a, b, line, p) for a, b, _f, line, p in _imports()
                  if not _within(a, ("bx_app.devkit", "bx_app.sandbox"))]
    assert [f"{a} → {b}" for a, b, _l, _p in production if _within(b, ("bx_app.devkit", "bx_app.sandbox"))] == []
    sandbox_out = [f"{a} → {b}" for a, b, _f, _l, _p in _imports()
                   if _within(a, "bx_app.sandbox") and _within(b, "bx_app") and not _within(b, "bx_app.sandbox")]
    assert sandbox_out == []


def test_function_level_imports_are_few_and_each_says_why():
    inside = [(p, line, b) for _a, b, f, line, p in _imports() if f and not _within(_a, "bx_app.sandbox")]
    unexplained = []
    for path, line, imported in inside:
        lines = path.read_text(encoding="utf-8").splitlines()
        here, above = lines[line - 1], lines[line - 2] if line > 1 else ""
        if "# import here:" not in here and "# import here:" not in above:
            unexplained.append(f"{path.relative_to(ROOT)}:{line} {imported}")
    assert unexplained == []
    assert len({(p, line) for p, line, _ in inside}) <= FUNCTION_IMPORTS_MAX


def test_queue_names_and_enqueueing_live_in_one_module():
    """Only bx_app.queues (and the worker/scheduler commands that consume queues) talk to RQ."""
    users = sorted({a for a, b, _f, _l, _p in _imports() if _within(b, "rq")})
    assert set(users) <= {"bx_app.queues", "bx_app.cli", "bx_app.devkit.natural_worker"}, users


def test_job_entry_points_only_in_the_jobs_layer():
    """Every job named by bx_app.queues exists in bx_app.jobs (a missing one fails here, not in a worker)."""
    import bx_app.jobs as jobs

    source = (PACKAGE / "queues.py").read_text(encoding="utf-8")
    named = set(re.findall(r"\{_JOBS\}\.(\w+)", source))
    assert named and all(callable(getattr(jobs, name, None)) for name in named), named
