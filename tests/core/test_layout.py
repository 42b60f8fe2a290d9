"""The package's shape: no import cycle, imports that point down the layers only, command
modules that do not import each other, a pure core that does no I/O (read statically with
``ast``: nothing is imported to check them); the public names, pinned; both runtimes offering
every member of the lab interface.

Every ``import`` statement counts, wherever it is (module level, inside a function, under
``TYPE_CHECKING``): a cycle hidden in a function is still a cycle. A package's ``__init__`` is
not an edge of its own submodules (Python imports it first in any case).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from pathlib import Path

import pytest

import georep
from georep.runtime.embedded import Lab
from georep.runtime.live import LiveLab
from georep.runtime.surface import LabSurface

ROOT = Path(georep.__file__).parent

# The pure core may use the standard library, but nothing that talks to the outside world.
IO_MODULES = {"aiobotocore", "aiohttp", "asyncio", "boto3", "botocore", "os", "pathlib",
              "socket", "subprocess", "time", "urllib"}
CORE_MAY_IMPORT = ("georep.core", "georep.errors")
# A command module of the CLI may import these two, and no other module of georep.cli.
CLI_SHARED = {"georep.cli.shared", "georep.cli.connect"}


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """The package's modules ``name`` imports, and the top-level names of everything else."""
    inside, outside = set(), set()

    def add(target: str) -> None:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]  # a name defined in a module: the module
        if target in known:
            inside.add(target)
        else:
            outside.add(target.split(".")[0])

    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            for alias in node.names:  # ``from pkg import mod`` imports the module pkg.mod
                add(f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix)
    inside.discard(name)
    return inside, outside


def import_graph(root: Path, package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> the package's modules it imports; module -> the outside packages it imports."""
    mods = modules(root, package)
    graph, external = {}, {}
    for name, path in mods.items():
        graph[name], external[name] = imports(name, path, set(mods))
    return graph, external


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


GRAPH, EXTERNAL = import_graph(ROOT, "georep")


def test_the_graph_sees_the_package():
    assert {"georep", "georep.cli", "georep.core.meta", "georep.runtime.embedded"} <= set(GRAPH)
    assert "georep.runtime.embedded" in GRAPH["georep"]
    assert {"aiobotocore", "asyncio"} <= EXTERNAL["georep.runtime.embedded"]


def test_no_import_cycle_in_georep():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_is_found_and_named():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_a_cycle_through_a_function_level_relative_import_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import f\n")
    (pkg / "a.py").write_text("from .sub import f\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import g\n    return g\n")
    graph, _ = import_graph(pkg, "pkg")
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.a"]


def test_no_cli_command_module_imports_a_sibling():
    commands = [m for m in GRAPH if m.startswith("georep.cli.") and m not in CLI_SHARED]
    assert commands
    wrong = {m: sorted(t for t in GRAPH[m] if t.startswith("georep.cli") and t not in CLI_SHARED)
             for m in commands}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_core_imports_nothing_that_does_io():
    core = [m for m in GRAPH if m.startswith("georep.core")]
    assert "georep.core.meta" in core
    reach, todo = set(), list(core)
    while todo:  # everything the core imports, directly or not
        m = todo.pop()
        if m not in reach:
            reach.add(m)
            todo.extend(GRAPH[m])
    outside = sorted(m for m in reach if not m.startswith(CORE_MAY_IMPORT))
    assert outside == []
    io = {m: sorted(EXTERNAL[m] & IO_MODULES) for m in sorted(reach)}
    assert {m: names for m, names in io.items() if names} == {}


# ARCHITECTURE.md's layers, bottom up: imports point downward (or stay in their layer) only.
LAYERS = [("georep.errors",), ("georep.core",), ("georep.config", "georep.assignments"),
          ("georep.aws",), ("georep.engine",), ("georep.runtime",), ("georep.harness",),
          ("georep.cli", "georep.analysis", "georep.scenarios", "georep.testing",
           "georep.__main__"), ("georep",)]


def layer(module: str) -> int:
    for n, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return n
    raise AssertionError(f"{module} is in no layer")


def test_imports_point_downward_only():
    upward = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets
                    if layer(t) > layer(m))
    assert upward == []

# -- the public names: changing one of these lists is a decision, not an accident -----------

PUBLIC = {
    "georep": ["ConfigError", "GeorepError", "Lab", "LabConfig", "LabError", "LabSurface",
               "LiveLab", "load"],
    "georep.runtime.embedded": ["Lab"],
    "georep.runtime.live": ["LiveLab"],
    "georep.runtime.surface": ["LabSurface"],
}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_the_public_names_are_pinned_and_resolve(name):
    module = importlib.import_module(name)
    assert module.__all__ == PUBLIC[name]
    for attr in module.__all__:
        assert getattr(module, attr) is not None, f"{name}.{attr}"


def test_the_package_names_are_the_runtime_classes():
    assert georep.Lab is Lab and georep.LiveLab is LiveLab and georep.LabSurface is LabSurface


def surface_members() -> tuple[list[str], list[str]]:
    """The protocol's methods and its data attributes, read from the protocol itself."""
    methods = sorted(n for n, v in vars(LabSurface).items()
                     if not n.startswith("_") and inspect.isfunction(v))
    return methods, sorted(LabSurface.__annotations__)


def assigned_attributes(cls: type) -> set[str]:
    """Every ``self.X = ...`` in the methods of ``cls`` and its georep bases."""
    out = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("georep"):
            continue
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(klass)))):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            out |= {t.attr for t in targets if isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name) and t.value.id == "self"}
    return out


def test_the_protocol_is_read_from_the_code():
    methods, attributes = surface_members()
    assert {"put", "partition", "settle", "reconcile"} <= set(methods)
    assert attributes == ["config", "run_id"]


@pytest.mark.parametrize("runtime", [Lab, LiveLab], ids=["Lab", "LiveLab"])
def test_both_runtimes_have_every_protocol_member_with_its_parameters(runtime):
    methods, attributes = surface_members()
    assert set(attributes) <= assigned_attributes(runtime)
    for name in methods:
        want = inspect.signature(getattr(LabSurface, name))
        impl = getattr(runtime, name, None)
        assert callable(impl), f"{runtime.__name__}.{name} is missing"
        have = inspect.signature(impl)
        assert inspect.iscoroutinefunction(impl) == inspect.iscoroutinefunction(
            getattr(LabSurface, name)), f"{runtime.__name__}.{name}: async or not as the protocol"
        params = [(p.name, p.kind) for p in want.parameters.values()]
        assert [(p.name, p.kind) for p in have.parameters.values()][:len(params)] == params, (
            f"{runtime.__name__}.{name}{have} does not take LabSurface.{name}{want}")
        extra = list(have.parameters.values())[len(params):]
        assert all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                   for p in extra), f"{runtime.__name__}.{name}{have}: extra required parameters"
