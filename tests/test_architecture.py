"""The import graph: layers point one way (derive -> montecarlo -> initvar) and no module imports
another that imports it back, counting every import, function-local ones included (so none can hide
a cycle)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("derive", "montecarlo", "initvar")
LAYER = {"derive": 0, "montecarlo": 1, "initvar": 2}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _resolve(current: str, is_package: bool, node, modules) -> list[str]:
    """The modules an import statement loads (``from pkg import mod`` loads pkg.mod, not just pkg)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = current if is_package else current.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    prefix = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
    out = []
    for alias in node.names:
        sub = f"{prefix}.{alias.name}"
        out.append(sub if sub in modules else prefix)
    return out


def _graph():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(name, path.name == "__init__.py", node, modules):
                    # the longest known module the target names
                    while target and target not in modules:
                        target = target.rpartition(".")[0]
                    if target and target != name:
                        targets.add(target)
        graph[name] = targets
    return graph


def test_layers_point_one_way():
    for module, targets in _graph().items():
        for target in targets:
            assert LAYER[target.split(".")[0]] <= LAYER[module.split(".")[0]], f"{module} imports {target} (upward)"


def test_no_import_cycles():
    graph = _graph()
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_derive_and_montecarlo_import_no_initvar_and_no_matplotlib():
    code = (
        "import sys, derive, montecarlo, montecarlo.verify, montecarlo.checks; "
        "print(sorted(m for m in sys.modules if m == 'initvar' or m.startswith(('initvar.', 'matplotlib'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out
