"""Generate docs/api.md: every public name of fastfit's packages with its signature and the
first paragraph of its docstring (standard library ``inspect`` only).

    python docs/gen_api.py            # rewrite docs/api.md
    python docs/gen_api.py --check    # exit 1 when docs/api.md is out of date

tests/test_api_doc.py runs the check, so the page cannot go stale.
"""
from __future__ import annotations

import enum
import importlib
import inspect
import re
import sys
import types
from pathlib import Path

OUT = Path(__file__).resolve().parent / "api.md"

# (module, what it is) in reading order: the API, its packages, the layers above, the core
MODULES = [
    ("fastfit", "the package: public names, imported lazily"),
    ("fastfit.fitting", "API: equivalent-circuit fitting"),
    ("fastfit.inference", "API: model choice, bootstrap and profile likelihood"),
    ("fastfit.validation", "API: lin-KK, Z-HIT and drift"),
    ("fastfit.relaxation", "API: distribution of relaxation times"),
    ("fastfit.nonstationary", "alias of the drift part of fastfit.validation"),
    ("fastfit.circuit", "API: circuit strings and user elements"),
    ("fastfit.series", "API: the spectra container"),
    ("fastfit.errors", "API: the typed errors"),
    ("fastfit.io", "readers"),
    ("fastfit.io.parsing", "reader building blocks shared with streaming"),
    ("fastfit.store", "HDF5 store"),
    ("fastfit.analysis", "derived quantities"),
    ("fastfit.plot", "figures"),
    ("fastfit.stream", "live ingestion"),
    ("fastfit.serve", "live dashboard in the browser"),
    ("fastfit.distributed", "Dask"),
    ("fastfit.synthetic", "seeded synthetic spectra (tests, examples, benchmarks)"),
    ("fastfit.kernels", "the compiled core"),
]


def first_paragraph(obj) -> str:
    """The first paragraph of ``obj``'s own docstring, on one line ('' without one)."""
    doc = obj.__doc__ if isinstance(obj, (type, types.ModuleType)) else inspect.getdoc(obj)
    doc = inspect.cleandoc(doc or "")
    para = doc.split("\n\n", 1)[0].strip()
    return " ".join(line.strip() for line in para.splitlines())


def signature(obj) -> str:
    """``(params)`` without annotations (they repeat the docstrings' types); '' if none."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    text = str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def members(cls) -> list[str]:
    """Public methods and properties defined by ``cls`` or its fastfit bases."""
    names = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("fastfit"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in names:
                continue
            if isinstance(value, property):
                names.append(name)
            elif inspect.isfunction(value):
                names.append(f"{name}()")
    return sorted(names)


def describe(name: str, obj) -> list[str]:
    """Markdown lines for one public name."""
    if isinstance(obj, types.ModuleType):
        return [f"- `{name}`: module `{obj.__name__}` -- {first_paragraph(obj)}"]
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        lines = [f"### `{name}` (enumeration)", "", first_paragraph(obj), ""]
        for m in obj:
            text = getattr(m, "message", "")
            lines.append(f"- `{m.name} = {m.value!r}`" + (f": {text}" if text else ""))
        return lines + [""]
    if inspect.isclass(obj):
        lines = [f"### `class {name}{signature(obj)}`", "", first_paragraph(obj), ""]
        mem = members(obj)
        if mem:
            lines += ["Members: " + ", ".join(f"`{m}`" for m in mem), ""]
        return lines
    if callable(obj):
        return [f"### `{name}{signature(obj)}`", "", first_paragraph(obj), ""]
    text = repr(obj)
    shown = text if len(text) <= 70 and " at 0x" not in text else type(obj).__name__
    return [f"- `{name}` = `{shown}`"]


def owner(name: str, obj) -> str | None:
    """The first package section after the root that documents ``obj`` as ``name``."""
    for modname, _ in MODULES[1:]:
        mod = importlib.import_module(modname)
        if name in getattr(mod, "__all__", []) and getattr(mod, name) is obj:
            return modname
    return None


def root_section(modname: str, what: str) -> list[str]:
    """The package root: every public name with the section that documents it."""
    mod = importlib.import_module(modname)
    lines = [f"## `{modname}` -- {what}", "", first_paragraph(mod), ""]
    for name in sorted(mod.__all__, key=str.lower):
        obj = getattr(mod, name)
        if isinstance(obj, types.ModuleType):
            lines += describe(name, obj)
            continue
        where = owner(name, obj)
        lines.append(f"- `{name}`: see `{where}`" if where else
                     f"- `{name}{signature(obj)}`: {first_paragraph(obj)}")
    return lines + [""]


def module_section(modname: str, what: str) -> list[str]:
    mod = importlib.import_module(modname)
    if modname == "fastfit":
        return root_section(modname, what)
    names = sorted(getattr(mod, "__all__", []), key=str.lower)
    lines = [f"## `{modname}` -- {what}", "", first_paragraph(mod), ""]
    subs, values, rest = [], [], []
    for name in names:
        obj = getattr(mod, name)
        if isinstance(obj, types.ModuleType):
            subs.append((name, obj))
        elif inspect.isclass(obj) or callable(obj):
            rest.append((name, obj))
        else:
            values.append((name, obj))
    for name, obj in subs + values:
        lines += describe(name, obj)
    if subs or values:
        lines.append("")
    for name, obj in rest:
        lines += describe(name, obj)
    return lines


def generate() -> str:
    lines = ["# fastfit API reference", "",
             "Generated by `docs/gen_api.py` from the code (signatures and the first paragraph "
             "of each docstring; `help(name)` shows the rest). Do not edit by hand: "
             "`tests/test_api_doc.py` fails when this page and the code disagree.", ""]
    for modname, what in MODULES:
        lines += module_section(modname, what)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
