"""Shared helpers for the benchmarks: machine description and result tables."""
from __future__ import annotations

import datetime
import os
import platform
import resource
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    import jax
    import numpy

    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()}, Python "
            f"{platform.python_version()}, jax {jax.__version__} on {jax.devices()[0].platform}, "
            f"numpy {numpy.__version__}, {datetime.date.today().isoformat()}")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_results(name: str, title: str, rows: list[tuple], header: tuple, notes: str = "") -> Path:
    path = HERE / f"results_{name}.md"
    lines = [f"## {title}", "", f"Machine: {machine()}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    if notes:
        lines += ["", notes]
    path.write_text("\n".join(lines) + "\n")
    return path
