"""Compiled programs dropped before the memory-map limit (fastfit._map_pressure)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import fastfit as ff
from fastfit import _map_pressure as mp

linux = pytest.mark.skipif(not sys.platform.startswith("linux") or mp.map_count() is None,
                           reason="counts /proc/self/maps")


@linux
def test_counts_this_process_and_reads_the_kernel_limit():
    import mmap

    n = mp.map_count()
    # 20 anonymous mappings, alternately read-only and read-write (never merged)
    blocks = [mmap.mmap(-1, 4 * mmap.PAGESIZE,
                        prot=mmap.PROT_READ | (mmap.PROT_WRITE if k % 2 else 0))
              for k in range(20)]
    assert mp.map_count() >= n + 10
    for b in blocks:
        b.close()
    assert mp.map_count() < n + 10
    assert mp.map_limit() is None or mp.map_limit() > 1000


@linux
def test_a_fit_near_the_limit_drops_the_compiled_programs_and_still_fits(monkeypatch):
    import jax

    monkeypatch.setattr(mp, "CHECK_INTERVAL_S", 0.0)  # count on every fit
    cleared = []
    real = jax.clear_caches
    monkeypatch.setattr(jax, "clear_caches", lambda: (cleared.append(1), real())[1])
    f = np.geomspace(1e5, 1e-1, 30)
    Z = 10 + 100 / (1 + 1j * f / 10)
    monkeypatch.setattr(mp, "map_limit", lambda: 10 ** 9)
    ff.fit(f, Z, "R0-p(R1,C1)")                     # compiled, and the count checked
    assert not cleared                              # far below that limit
    # a limit just above this process's mappings: the next fit drops the programs first
    monkeypatch.setattr(mp, "map_limit", lambda: int(mp.map_count() / mp.SHARE) - 1)
    r = ff.fit(f, Z, "R0-p(R1,C1)")
    assert cleared == [1]
    np.testing.assert_allclose(r.params[0], [10.0, 100.0, 1 / (2 * np.pi * 10 * 100)],
                               rtol=1e-6)
    # within CHECK_INTERVAL_S of that check nothing is counted again
    monkeypatch.setattr(mp, "CHECK_INTERVAL_S", 1e9)
    assert mp.relieve() is False
    assert mp.relieve(force_check=True) is True and cleared == [1, 1]


def test_unknown_counts_never_drop_anything(monkeypatch):
    monkeypatch.setattr(mp, "map_count", lambda: None)
    assert mp.relieve(force_check=True) is False
    monkeypatch.setattr(mp, "map_limit", lambda: None)
    assert mp.relieve(force_check=True) is False


@pytest.mark.parametrize("entry", ["fit", "kk", "zhit", "drt"])
def test_every_compiled_entry_point_checks_the_map_count(monkeypatch, entry):
    """fit, kk, zhit and drt each compile programs per shape, so each checks the count
    before its work (a long-lived process validating or deconvolving spectra of many
    grids fills the map table as fitting many circuits does)."""
    import importlib

    calls = []
    homes = {"fit": "fastfit.fitting._driver", "kk": "fastfit.validation._linkk",
             "zhit": "fastfit.validation._zhit", "drt": "fastfit.relaxation._solve"}
    monkeypatch.setattr(importlib.import_module(homes[entry]), "relieve",
                        lambda *a, **k: calls.append(entry) or False)
    f = np.geomspace(1e5, 1e-1, 30)
    Z = 10 + 100 / (1 + 1j * f / 10)
    if entry == "fit":
        ff.fit(f, Z, "R0-p(R1,C1)")
    else:
        getattr(ff, entry)(f, Z)
    assert calls == [entry]
