"""Small helpers shared by the example scripts (not part of the fastfit package).

Each example is a stand-alone script: ``python examples/NN_name.py [--out DIR] [--quick]``.
This module only holds the plumbing they all need: command-line options, JAX's
persistent compilation cache, a plain-text table printer and figure saving.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def parse_args(name: str, description: str, extra=None) -> argparse.Namespace:
    """Parse the options every example has (``--out``, ``--quick``, ``--no-cache``).

    ``extra(parser)`` may add example-specific options.  The output folder is created.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=Path("out") / name,
                   help=f"folder for the PNG figures (default: out/{name})")
    p.add_argument("--quick", action="store_true",
                   help="fewer spectra (smoke test: same code paths, smaller batches)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use JAX's persistent compilation cache")
    if extra is not None:
        extra(p)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_cache:
        enable_compile_cache()
    return args


def enable_compile_cache() -> None:
    """Keep compiled fit/KK/DRT programs on disk between runs, as the ``fastfit`` CLI does
    (folder ``$FASTFIT_CACHE_DIR``, default ``~/.cache/fastfit/jax``).  The first run of an
    example compiles (most of its run time on a CPU); later runs start at once."""
    import jax

    folder = Path(os.environ.get("FASTFIT_CACHE_DIR")
                  or Path.home() / ".cache" / "fastfit" / "jax")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:          # read-only home: run without the cache
        return
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def table(headers, rows, title=None) -> str:
    """Right-aligned plain-text table (every cell already a string)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    lines = [] if title is None else [title]
    lines.append(fmt.format(*headers))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt.format(*r) for r in rows)
    return "\n".join(lines)


def pm(value, err, fmt=".3g") -> str:
    """``value ± err`` (the error with 2 significant digits; no ± when not finite)."""
    import math

    v = format(value, fmt)
    return f"{v} ± {err:.2g}" if math.isfinite(err) else v


def save(fig, out: Path, name: str) -> Path:
    """Write ``fig`` as ``out/name`` (PNG) and report the path."""
    path = Path(out) / name
    fig.savefig(path, dpi=110)
    print(f"  wrote {path}")
    return path


class Timer:
    """``with Timer("fit"):`` prints how long the block took (compile included)."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        if exc[0] is None:
            print(f"  [{self.what}: {self.seconds:.1f} s]")
        return False


def write_summary(out: Path, data: dict) -> Path:
    """Key numbers of a run as ``out/summary.json`` (read by the smoke tests)."""
    import json

    path = Path(out) / "summary.json"
    path.write_text(json.dumps(data, indent=1, default=float))
    return path
