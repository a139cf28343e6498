"""The shape of the code the issue "one home per resource" asks for: no import cycle among the
service's modules, counting imports inside functions too (a lazy import that breaks a cycle at run
time is still a cycle in the design); a package importing its own submodules is not one."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dataset_api"


def _modules():
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(path, known):
    """The service modules ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found & known


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    state, cycles = {}, []

    def visit(name, stack):
        state[name] = "open"
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*stack[stack.index(target):], target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, "\n".join(cycles)


def _spec_file_names(path):
    """String literals in ``path`` that name a file openapi.yaml (routes such as "/openapi.yaml"
    and prose in docstrings are not file names)."""
    return [node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and Path(node.value).name == "openapi.yaml" and not node.value.startswith("/")
            and not any(ch.isspace() for ch in node.value)]


def test_one_way_to_the_spec():
    """Only dataset_api/spec.py names the document's file; every other reader, in the package and
    in tools/, goes through ``spec.PATH`` / ``spec.document()``, which a wheel carries too. A path
    of its own (``parents[2] / "openapi.yaml"``) points into site-packages once installed."""
    sources = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tools").rglob("*.py")]
    found = {str(path.relative_to(PACKAGE.parent)): names for path in sources
             if path != PACKAGE / "spec.py" and (names := _spec_file_names(path))}
    assert found == {}
    assert _spec_file_names(PACKAGE / "spec.py") == ["openapi.yaml"]  # the check sees a real one


def test_an_installed_copy_reads_the_spec_it_carries(tmp_path):
    """The package laid out as a wheel installs it, a folder of its own in site-packages with
    openapi.yaml a file inside and no repository around it: JSON-RPC's validator (``update``'s)
    reads that file."""
    site = tmp_path / "site-packages"  # copytree follows the link to openapi.yaml, as a wheel does
    shutil.copytree(PACKAGE, site / "dataset_api", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from dataset_api.jsonrpc import methods; print(methods.__file__); "
            "print(len(list(methods._validator(False).iter_errors({'dimensions': 'a box'}))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(site / "dataset_api" / "jsonrpc" / "methods.py"), "1"]


def _calls(path):
    """``module.function`` names ``path`` calls, and the text of its string constants."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {f"{node.func.value.id}.{node.func.attr}" for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and isinstance(node.func.value, ast.Name)}
    texts = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return calls, texts


def test_one_write_path():
    """Only ``writes`` records events and revisions and moves versions (issue #22): a module that
    did it by hand could forget one of the three (tests/test_write_path.py checks the routes)."""
    by_hand = []
    for name, path in _modules().items():
        if name in ("dataset_api.writes", "dataset_api.events.outbox", "dataset_api.revisions") \
                or name.startswith("dataset_api.migrations"):
            continue
        calls, texts = _calls(path)
        source = path.read_text(encoding="utf-8")
        recording = {c for c in calls if c.startswith(("outbox.record", "outbox.emit", "revisions.keep"))}
        bumps = ".version + 1" in source or any('"version" + 1' in text for text in texts)
        if recording or bumps:
            by_hand.append((name, sorted(recording), bumps))
    assert by_hand == []
