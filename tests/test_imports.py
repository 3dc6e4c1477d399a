"""The import graph of the project: no circles among its modules, and `reports/` never loads torch.

The rule for circles, kept simple so it cannot be argued around: every import of a project module
(`bench`, `rin`, `baselines`, `reports`) forms an edge of the graph, wherever it stands: at module
level, inside a function, under `if TYPE_CHECKING:`. An import moved into a function is fine to keep
torch or an optional library from loading at start-up, but it does not hide a circle: the two modules
still need each other. Imports of other libraries are not edges.

Edges are read from the source with `ast`, without importing anything:
- `import a.b.c` is an edge to the longest project module named by `a.b.c`;
- `from a.b import x` is an edge to `a.b.x` when that is a module, else to `a.b`; relative imports are
  resolved against the importing module's package;
- a string literal that is exactly the dotted name of another project module, or `module:attribute`,
  is an edge too: the CLI root loads its commands by name (`importlib.import_module`), the worker its
  measure function, and a circle through such a name is a circle all the same;
- importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`; those implicit edges are left
  out, so that a package may re-export what its modules define.
Circles are the strongly connected components of the graph (Tarjan); the failure names one circle of
each component, e.g. `bench.fid -> bench.train -> bench.fid`.

`reports/` draws tables, figures and HTML from result files, on machines without torch: a fresh
interpreter imports `reports` and every module under it, and torch must not be among the modules it
loaded. The failure names the first module whose import brought torch in.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("bench", "rin", "baselines", "reports")


def module_files(root: Path, packages=PROJECT_PACKAGES) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py file under the project's packages."""
    files = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest prefix of dotted `name` that is a project module, or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _base_of_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a `from ... import` names, resolving leading dots."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules that `module` imports anywhere in its source."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(_resolve(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base_of_from(node, module, is_package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _resolve(base, modules))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = node.value.split(":", 1)[0]
            if "." in named and named in modules and named != module:  # loaded by its name
                found.add(named)
    found.discard(None)
    return found


def import_graph(root: Path = ROOT, packages=PROJECT_PACKAGES) -> dict[str, set[str]]:
    files = module_files(root, packages)
    names = set(files)
    return {module: imports_of(module, path, names) for module, path in files.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with a circle (two or more modules, or one that
    imports itself), each sorted, the list sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        components.append(sorted(component))
    return sorted(components)


def one_circle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest circle through the component's first module, staying inside the component:
    [a, b, ..., a]."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    return paths[node] + [start]
                if succ not in paths:
                    paths[succ] = paths[node] + [succ]
                    following.append(succ)
        frontier = following
    raise AssertionError(f"no circle in component {component}")  # Tarjan guarantees one


def describe_circles(graph: dict[str, set[str]]) -> list[str]:
    """One line per component: a circle in it, and the whole component where the circle is shorter."""
    lines = []
    for component in strongly_connected(graph):
        circle = one_circle(graph, component)
        line = " -> ".join(circle)
        if len(circle) - 1 < len(component):
            line += f"  (all of: {', '.join(component)})"
        lines.append(line)
    return lines


def test_no_import_circles_among_project_modules():
    circles = describe_circles(import_graph())
    assert not circles, "import circles among the project's modules:\n" + "\n".join(circles)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others (itself excluded)."""
    seen, todo = set(), [start]
    while todo:
        for succ in graph.get(todo.pop(), ()):
            if succ not in seen:
                seen.add(succ)
                todo.append(succ)
    return seen - {start}


def test_the_diffusion_process_imports_no_family():
    """bench.diffusion serves every backbone from what its family declares (DiffusionNeeds), handed
    in by the caller: it reaches no model package and not the registry that gathers them."""
    graph = import_graph()
    assert "bench.schedules" in reachable(graph, "bench.diffusion")  # the check sees its imports
    families = {m for m in graph if m.split(".")[0] in ("rin", "baselines")} | {"bench.registry"}
    assert reachable(graph, "bench.diffusion") & families == set()


def test_reports_never_imports_torch():
    modules = sorted(m for m in module_files(ROOT, ("reports",)))
    probe = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
            if "torch" in sys.modules:
                print(name)
                break
        """
    )
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    }
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    culprit = done.stdout.strip()
    assert not culprit, f"importing {culprit} loads torch; reports/ must run without it"


# The checker checks itself on a small made-up project.


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_graph_resolves_each_form_of_import(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\nimport pkg.sub.c\nimport os\n",
            "pkg/b.py": "from pkg.sub.c import thing\nSELF = 'pkg.b'\n",
            "pkg/sub/__init__.py": "from . import c\n",
            "pkg/sub/c.py": "def f():\n    from ..b import name\n    from .. import d\n",
            "pkg/d.py": "from pkg import not_a_module\nLOADS = ('pkg.b:run', 'pkg', 'pkg.nope')\n",
        },
    )
    assert import_graph(tmp_path, ("pkg",)) == {
        "pkg": set(),
        "pkg.a": {"pkg.b", "pkg.sub.c"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": {"pkg.sub.c"},
        "pkg.sub.c": {"pkg.b", "pkg.d"},
        "pkg.d": {"pkg", "pkg.b"},
    }


def test_every_circle_is_found_and_named():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a -> b -> c -> a
        "d": {"e"},
        "e": {"d"},  # d <-> e, reached from the first circle
        "f": {"f"},  # a module that imports itself
        "g": {"a"},  # leads into a circle, is not on one
    }
    assert describe_circles(graph) == [
        "a -> b -> c -> a",
        "d -> e -> d",
        "f -> f",
    ]
    assert describe_circles({"a": {"b"}, "b": set()}) == []
