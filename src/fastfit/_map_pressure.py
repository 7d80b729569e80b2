"""Compiled programs against the process's memory-map limit.

Every program XLA compiles for the CPU keeps its machine code in many small memory
mappings (measured with jax 0.10.2 on Linux: ~1,000 mappings per circuit for the fit's
programs over one frequency window, mostly 4 KiB code and read-only pages), and JAX keeps
every program it compiled for the life of the process.  Linux caps a process's mappings
(``/proc/sys/vm/max_map_count``, 65,530 by default), so a long-lived process that fits
many circuits -- a notebook, ``fastfit serve``, a stream -- runs out of them: one
process fitting 14 circuits over the 42 bundled real spectra (5 window groups each), and
one fitting 120 distinct circuits on 4 spectra (~900 mappings each), died after ~70
circuit-windows and ~91 circuits with "LLVM compilation error: Cannot allocate memory"
and a segmentation fault (2026-12-06; with this guard all 120 ran).

:func:`relieve` (called before every ``fit``, ``kk``, ``zhit`` and ``drt``, each of
which compiles programs per circuit or grid) counts the process's mappings, at most once
per ``CHECK_INTERVAL_S``, and where they exceed ``SHARE`` of the limit drops JAX's
compiled programs (``jax.clear_caches``; measured: 4,011 -> 849 mappings after three
circuits).  The next fit of a circuit then compiles its programs again (seconds; the
persistent compile cache, :func:`fastfit._devices.enable_compile_cache`, shortens that).
Elsewhere than Linux nothing is counted.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path

__all__ = ["relieve", "map_count", "map_limit", "SHARE", "CHECK_INTERVAL_S"]

SHARE = 0.5               # drop the compiled programs above this share of the map limit
CHECK_INTERVAL_S = 1.0    # count the mappings at most this often (a count reads ~1-2 ms)

_MAPS = Path("/proc/self/maps")
_LIMIT = Path("/proc/sys/vm/max_map_count")
_log = logging.getLogger(__name__)
_lock = threading.Lock()
_last = [float("-inf")]


def map_count() -> int | None:
    """Memory mappings of this process now (None where ``/proc`` does not tell)."""
    try:
        with _MAPS.open("rb") as fh:
            return sum(1 for _ in fh)
    except OSError:
        return None


def map_limit() -> int | None:
    """The kernel's cap on a process's memory mappings (None where unknown)."""
    try:
        return int(_LIMIT.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def relieve(force_check: bool = False) -> bool:
    """Drop JAX's compiled programs when this process's memory mappings exceed ``SHARE``
    of the kernel's limit; returns whether it dropped them.  Counts at most once per
    ``CHECK_INTERVAL_S`` unless ``force_check``."""
    now = time.monotonic()
    with _lock:
        if not force_check and now - _last[0] < CHECK_INTERVAL_S:
            return False
        _last[0] = now
    limit = map_limit()
    count = map_count() if limit else None
    if count is None or count <= SHARE * limit:
        return False
    import jax

    jax.clear_caches()
    gc.collect()
    _log.info("fastfit: %d of %d memory mappings in use; dropped JAX's compiled programs "
              "(%s now)", count, limit, map_count())
    return True
