"""The layering rules of docs/architecture.md, checked statically on the source.

Every module of ``src/fastfit`` and ``kernels/`` (installed as ``fastfit.kernels``) is
parsed (nothing is imported for the graph); every import counts, also those inside
functions.  A relative import is resolved to the module it names: ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg`` -- or, when ``pkg``
serves ``name`` lazily from a ``_LAZY`` table, to the module that table names.  Importing
a module also runs the ``__init__`` of every package above it that the importer is not
inside of, so those packages are edges too.

Rules:

* (a) no import cycle;
* (b) no private module (a path part with a leading underscore) of another top-level
  unit is imported -- a top-level unit is a subpackage of ``fastfit`` or a module at its
  root; the shared root modules (``fastfit._devices`` ...) may be imported from anywhere;
* (c) no module of ``src/fastfit`` imports a leading-underscore *name* from another
  module, nor reads one as an attribute of a module of another top-level unit;
* (d) no module imports the package root ``fastfit`` (its lazy table is for users;
  inside the package, importing the owner keeps the graph complete);
* (e) imports point down the layers of ``LAYERS`` (or stay within a layer);
* the entry points ``fit``, ``fit_series``, ``kk`` and ``drt`` are plain functions with
  their parameters in their signatures.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = {"fastfit": ROOT / "src" / "fastfit", "fastfit.kernels": ROOT / "kernels"}


# ------------------------------------------------------------------ the graph
def _modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is_package) for every .py file of both trees."""
    out = {}
    for prefix, top in TREES.items():
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(top).with_suffix("").parts
            is_pkg = parts[-1] == "__init__"
            name = ".".join((prefix,) + (parts[:-1] if is_pkg else parts))
            out[name] = (path, is_pkg)
    return out


MODULES = _modules()


def _lazy_table(name: str) -> dict[str, str]:
    """A package's module-level ``_LAZY = {public name: module}`` table, resolved."""
    path, is_pkg = MODULES[name]
    if not is_pkg:
        return {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "_LAZY"
                and isinstance(node.value, ast.Dict)):
            table = ast.literal_eval(node.value)
            return {k: v if v.startswith("fastfit") else f"{name}.{v}" for k, v in table.items()}
    return {}


LAZY = {name: _lazy_table(name) for name in MODULES}


def _base(module: str, is_pkg: bool, level: int) -> str:
    parts = module.split(".") if is_pkg else module.split(".")[:-1]
    return ".".join(parts[:len(parts) - (level - 1)])


def _imports(module: str) -> list[tuple[str, str | None, str, int]]:
    """(written target module, imported name or None, alias, line) of every import."""
    path, is_pkg = MODULES[module]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append((a.name, None, a.asname or a.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, is_pkg, node.level)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for a in node.names:
                if f"{target}.{a.name}" in MODULES:
                    out.append((f"{target}.{a.name}", None, a.asname or a.name, node.lineno))
                else:
                    out.append((target, a.name, a.asname or a.name, node.lineno))
    return [imp for imp in out if imp[0] == "fastfit" or imp[0].startswith("fastfit.")]


IMPORTS = {m: _imports(m) for m in MODULES}


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, imps in IMPORTS.items():
        inside = set(_ancestors(m)) | ({m} if MODULES[m][1] else set())
        for target, name, _, _ in imps:
            resolved = LAZY.get(target, {}).get(name, target) if name else target
            for t in [resolved] + _ancestors(resolved):
                if t in MODULES and t not in inside and t != m:
                    graph[m].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _unit(module: str) -> str:
    """Top-level unit: ``fastfit.<first part>``."""
    return ".".join(module.split(".")[:2])


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_shared_root(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 2 and module in MODULES and not MODULES[module][1]


def _in_src(module: str) -> bool:
    return not (module == "fastfit.kernels" or module.startswith("fastfit.kernels."))


# ------------------------------------------------------------------ the rules
def test_scan_sees_the_whole_package():
    assert "fastfit.circuit" in MODULES and "fastfit.kernels._lm" in MODULES
    assert sum(len(v) for v in IMPORTS.values()) > 100
    for m, imps in IMPORTS.items():
        for target, name, _, line in imps:
            assert target in MODULES, f"{m}:{line} imports {target}, which is not a module"


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_private_module_of_another_unit():
    bad = []
    for m, imps in IMPORTS.items():
        for target, _, _, line in imps:
            if _unit(target) == _unit(m) or _is_shared_root(target):
                continue
            if any(_private(p) for p in target.split(".")[1:]):
                bad.append(f"{m}:{line} imports {target}")
    assert not bad, "private modules imported across units:\n" + "\n".join(bad)


def test_no_private_names_across_modules():
    bad = []
    for m, imps in IMPORTS.items():
        if not _in_src(m):
            continue
        for target, name, _, line in imps:
            if name is not None and _private(name) and target != m:
                bad.append(f"{m}:{line} imports {name} from {target}")
        other = {alias: t for t, name, alias, _ in imps if name is None and _unit(t) != _unit(m)}
        tree = ast.parse(MODULES[m][0].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in other and _private(node.attr)):
                bad.append(f"{m}:{node.lineno} reads {other[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_nothing_imports_the_package_root():
    bad = [f"{m}:{line} imports {name or 'fastfit'} from the package root"
           for m, imps in IMPORTS.items() for target, name, _, line in imps
           if target == "fastfit"]
    assert not bad, "\n".join(bad)


def test_a_cycle_would_be_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


# layers, top to bottom (docs/architecture.md); every top-level unit is in one
LAYERS = [
    ("application", {"cli", "stream", "serve", "distributed", "report"}),
    ("data in, out and derived", {"io", "store", "analysis", "plot", "synthetic"}),
    ("API", {"fitting", "inference", "validation", "relaxation", "nonstationary", "circuit",
             "elements", "series"}),
    ("shared", {"_batch", "_devices", "_map_pressure", "_results", "_version", "errors"}),
    ("compiled core", {"kernels"}),
]


def _layer(unit: str) -> int:
    name = unit.split(".")[1]
    return next(k for k, (_, units) in enumerate(LAYERS) if name in units)


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in MODULES} - {"fastfit"}
    missing = [u for u in sorted(units)
               if not any(u.split(".")[1] in names for _, names in LAYERS)]
    assert not missing, f"add to LAYERS (and docs/architecture.md): {missing}"


def test_imports_point_down():
    bad = []
    for m, targets in _graph().items():
        if m == "fastfit":
            continue
        for t in targets:
            if _layer(_unit(t)) < _layer(_unit(m)):
                bad.append(f"{m} ({LAYERS[_layer(_unit(m))][0]}) imports {t} "
                           f"({LAYERS[_layer(_unit(t))][0]})")
    assert not bad, "imports pointing up:\n" + "\n".join(sorted(bad))


# ------------------------------------------------------------ entry points
ENTRY = {
    "fit": ("freq", "Z", "circuit", "p0", "bounds", "fixed", "weight", "mask", "starts",
            "max_iter"),
    "fit_series": ("freq", "Z", "circuit", "shared", "warm_start", "p0", "chunk", "xtol",
                   "gtol", "progress"),
    "kk": ("freq", "Z", "c", "max_M", "mode", "mask", "time"),
    "drt": ("freq", "Z", "lam", "n_tau", "mask", "lam_select", "discretisation"),
}


OPTIONAL = {"distributed", "dask"}      # modules of the optional "distributed" extra


@pytest.mark.parametrize("name", sorted(ENTRY))
def test_entry_points_are_plain_functions(name):
    import fastfit

    # the callable-module trick broke depending on what was imported first: import all
    for info in pkgutil.walk_packages(fastfit.__path__, "fastfit."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:
            # cli._elements_plugin imports Dask's distributed, the optional extra (not
            # installed on the GPU machine of 2026-12-04)
            if e.name.split(".")[0] not in OPTIONAL:
                raise
    fn = getattr(fastfit, name)
    assert inspect.isfunction(fn), f"fastfit.{name} is {type(fn).__name__}"
    params = inspect.signature(fn).parameters
    assert set(ENTRY[name]) <= set(params), sorted(set(ENTRY[name]) - set(params))
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    if name in ("fit", "fit_series"):   # options are keyword-only after (freq, Z, circuit)
        kinds = [p.kind for p in params.values()]
        assert list(params)[:3] == ["freq", "Z", "circuit"]
        assert all(k is inspect.Parameter.KEYWORD_ONLY for k in kinds[3:])


def test_nonstationary_alias():
    from fastfit import nonstationary
    from fastfit.validation import drift, instantaneous, point_times

    assert nonstationary.drift is drift
    assert nonstationary.instantaneous is instantaneous
    assert nonstationary.point_times is point_times
