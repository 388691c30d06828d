"""The package's layout holds: every module imports in a fresh interpreter,
there is no import circle, and no folder imports what it may not.

The rules (docs/layout.md), one area per folder:

  box       the box's readings               may import config, shared helpers
  devices   records, registry, monitor       may import probes, config, shared
  probes    liveness probes                  may import shared
  report    payload, delivery, beat loop     may import box, devices, config, shared
  service   daemon, notify, API, metrics     may import report and what it stands on
  receiver  a program of its own             may import shared helpers only
  config    keys, loading, checks            may import devices.records (a leaf), shared
  shared    logs, redact, atomic, limits,    import nothing of the agent
            httpd, lean, argtypes, sigmask
  cli       the command                      may import anything

and the API and the metrics never import the daemon: they see a View.
Every import counts, at module level or inside a function or TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "sereport"
SHARED = {"sereport", "sereport.logs", "sereport.redact", "sereport.atomic", "sereport.limits",
          "sereport.httpd", "sereport.httpd_waitress", "sereport.lean", "sereport.argtypes",
          "sereport.sigmask", "sereport.digests"}
ALLOWED = {
    "box": {"config", "shared"},
    "devices": {"probes", "config", "shared"},
    "probes": {"shared"},
    "report": {"box", "devices", "config", "shared"},
    "service": {"report", "devices", "box", "config", "shared"},
    "receiver": {"shared"},
    "config": {"devices.records", "shared"},
    "shared": {"shared"},
}
NEVER = {("sereport.service.api", "sereport.service.daemon"),
         ("sereport.service.metrics", "sereport.service.daemon"),
         ("sereport.service.view", "sereport.service.daemon")}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the sereport modules it imports, from its source."""
    edges: dict[str, set[str]] = {}
    for name, path in found.items():
        targets = edges.setdefault(name, set())
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == "sereport")
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                if base.split(".")[0] != "sereport":
                    continue
                for alias in node.names:  # `from pkg import module` names the module
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in found else base)
        targets.discard(name)
    return edges


def area(name: str) -> str:
    if name in SHARED:
        return "shared"
    if name in ("sereport.cli", "sereport.__main__"):
        return "cli"
    return name.split(".")[1]


def allowed(source: str, target: str) -> bool:
    if (source, target) in NEVER:
        return False
    a, b = area(source), area(target)
    if a in ("cli", b):
        return True
    return b in ALLOWED[a] or target.partition(".")[2] in ALLOWED[a]


def problems(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if not allowed(source, target):
                found.append(f"{source} imports {target}: {area(source)} may not import "
                             f"{area(target)}")
    return found + [f"import circle: {' -> '.join(c + [c[0]])}" for c in circles(edges)]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return result


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(n for n in modules() if n != "sereport.__main__")
    script = ("import importlib, json, sys\nbad = {}\n"
              "for name in json.loads(sys.argv[1]):\n"
              "    try:\n        importlib.import_module(name)\n"
              "    except Exception as exc:\n        bad[name] = repr(exc)\n"
              "print(json.dumps(bad))\n")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(names)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {}
    assert len(names) > 30  # the walk found the package


def test_no_circles_and_no_import_against_the_rules():
    edges = graph(modules())
    assert edges["sereport.service.daemon"] >= {"sereport.service.api", "sereport.service.view"}
    assert problems(edges) == []


def test_the_checks_catch_what_they_are_for():
    edges = {"sereport.receiver.server": {"sereport.config"},
             "sereport.service.api": {"sereport.service.daemon"},
             "sereport.service.daemon": {"sereport.service.api"},
             "sereport.box.gateway": {"sereport.report.payload", "sereport.config"},
             "sereport.report.payload": {"sereport.box.gateway"},
             "sereport.config": {"sereport.devices.records"},
             "sereport.config.checks": {"sereport.devices.registry"}}
    found = problems(edges)
    assert "sereport.receiver.server imports sereport.config: receiver may not import config" in found
    assert any(p.startswith("sereport.service.api imports sereport.service.daemon") for p in found)
    assert "sereport.box.gateway imports sereport.report.payload: box may not import report" in found
    assert "sereport.config.checks imports sereport.devices.registry: config may not import devices" in found
    assert not any(p.startswith("sereport.config imports") for p in found)
    assert "import circle: sereport.service.api -> sereport.service.daemon -> sereport.service.api" in found
    assert any("sereport.box.gateway -> sereport.report.payload" in p for p in found)


def test_only_delivery_imports_requests():
    """requests (with urllib3, ssl, a charset detector) costs about 12 MiB of RSS: only the
    module that POSTs may load it, so `check`, `devices` and `receive` never pay for it."""
    heavy = {"requests", "urllib3"}
    importers = set()
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in heavy for n in names):
                importers.add(name)
    assert importers == {"sereport.report.delivery", "sereport.lean"}  # lean: for delivery
