"""Stored synthetic trap spectra (tests/synthetic/*.npz) and their reference chi2."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import fastfit as ff


def stored_traps(name: str, circuit: str):
    """freq, Z and the chi2 of the fit from the truth of the stored synthetic spectra
    ``tests/synthetic/<name>.npz`` (arrays freq, Z, truth; tests/synthetic/README.md)."""
    d = np.load(Path(__file__).parent / "synthetic" / f"{name}.npz")
    ref = ff.fit(d["freq"], d["Z"], circuit, p0=d["truth"], starts=0, relocate=False).chi2
    return d["freq"], d["Z"], ref


def assert_trap_ab(chi2, ref, applied: bool, n_fail: int, margin: float = 1e-6) -> None:
    """The A/B check of a stored-trap test: with the mechanism under test (``applied``)
    every chi2 reaches the reference (within 1e-6 relative); without it at least
    ``n_fail`` stay more than ``margin`` (relative) above it, so the test can fail."""
    chi2, ref = np.asarray(chi2), np.asarray(ref)
    if applied:
        assert np.all(chi2 <= ref * (1 + 1e-6)), chi2 / ref
    else:
        assert np.sum(chi2 > ref * (1 + margin)) >= n_fail, chi2 / ref


def fit_stored_trap(name: str, circuit: str, applied: bool, n_fail: int | None = None,
                    margin: float = 1e-6, converged_without: bool = False):
    """Fit the stored trap spectra ``name`` with ``circuit`` (default settings, whatever
    the caller switched off before) and make :func:`assert_trap_ab`'s check (``n_fail``
    None: every spectrum must fail without the mechanism); with
    ``converged_without``, without the mechanism every result must also report CONVERGED
    (a wrong basin that the status does not flag).  Returns the fit."""
    freq, Z, ref = stored_traps(name, circuit)
    r = ff.fit(freq, Z, circuit)
    assert_trap_ab(r.chi2, ref, applied, len(ref) if n_fail is None else n_fail, margin)
    if converged_without and not applied:
        assert np.all(r.status == ff.FitStatus.CONVERGED), r.status
    return r
