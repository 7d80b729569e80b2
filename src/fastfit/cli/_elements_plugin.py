"""``fastfit fit --scheduler --element-module``: a Dask worker plugin that registers the
user elements on every worker (present and future) from the modules' source text, so the
files need not exist on the workers.  Imported only on that path (it imports distributed).
"""
from __future__ import annotations

from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["ElementModules"]


class ElementModules(WorkerPlugin):
    """Carries ``[(path, source bytes), ...]``; ``setup`` imports each on the worker."""

    name = "fastfit-element-modules"

    def __init__(self, paths):
        self.modules = [(str(Path(p).resolve()), Path(p).read_bytes()) for p in paths]

    def setup(self, worker) -> None:
        from ..elements import load_source

        for origin, text in self.modules:
            load_source(text, origin)
