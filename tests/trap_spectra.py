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
