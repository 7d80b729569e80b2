"""Shared pieces of the CLI commands: JAX cache, progress bars, reading inputs."""
from __future__ import annotations

import contextlib
from pathlib import Path

import click
import numpy as np

from .._devices import setup_jax

__all__ = ["setup_jax", "progress", "is_store", "ingest", "iter_series", "echo"]


def echo(msg: str) -> None:
    click.echo(msg, err=True)


class _Null:
    def advance(self, n: int = 1) -> None:
        pass

    def total(self, n: int) -> None:
        pass


@contextlib.contextmanager
def progress(label: str, total: int, unit: str = "spectra", done: int = 0, quiet: bool = False):
    """A rich progress bar on stderr (rate in ``unit``/s and ETA); yields ``.advance(n)``."""
    if quiet:
        yield _Null()
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text("  -- " + unit + "/s" if speed is None else f"{speed:,.0f} {unit}/s")

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=False)

    class Handle:
        def __init__(self, task):
            self.task = task

        def advance(self, n: int = 1) -> None:
            bar.advance(self.task, n)

        def total(self, n: int) -> None:
            bar.update(self.task, total=n)

    with bar:
        task = bar.add_task(label, total=total, completed=done)
        yield Handle(task)


def is_store(path) -> bool:
    """True for an HDF5 file (fastfit stores are HDF5; instrument files never are)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def iter_series(path, chunk: int):
    """Yield SpectrumSeries pieces of an input: an instrument file (one piece) or a
    store (pieces of ``chunk`` spectra, so big stores are never loaded whole)."""
    if is_store(path):
        from ..store import Store

        with Store(path, "r") as src:
            n = len(src)
            for start in range(0, n, chunk):
                yield src.spectra(np.arange(start, min(n, start + chunk)))
        return
    from ..io import read

    yield read(path)


def ingest(files, store, chunk: int, quiet: bool) -> np.ndarray:
    """Add the spectra of every input to ``store``; return their store indices in input
    order.  Inputs already ingested (unchanged files, or the output store itself) are not
    read again; re-ingesting changed or moved files adds only new spectra."""
    out = []
    with progress("reading", len(files), "files", quiet=quiet) as bar:
        for path in files:
            if Path(path).resolve() == store.path.resolve():
                out.append(np.arange(len(store)))
            else:
                known = None if is_store(path) else store.source_indices(path)
                if known is not None:
                    out.append(known)
                else:
                    for series in iter_series(path, chunk):
                        out.append(store.append_spectra(series))
            bar.advance(1)
    idx = np.concatenate(out) if out else np.zeros(0, np.int64)
    _, first = np.unique(idx, return_index=True)        # a spectrum listed twice: fit once
    return idx[np.sort(first)]
