"""Rows of the result tables of a run: the table layouts (``PARTS``) and the builders that
turn a result object into one row per spectrum (what :class:`~fastfit.store.Store`'s
``write_*`` methods append)."""
from __future__ import annotations

import json

import numpy as np

from ..errors import StoreError
from ._spectra import json_default

__all__ = ["PARTS", "fit_rows", "kk_rows", "drt_rows", "band_rows", "zhit_rows",
           "compare_rows", "latest_rows", "options_json"]

# part -> {column: (dtype, width key or None)}; width keys: "P" params, "F" points, "T" tau,
# "M" candidate circuits
PARTS = {
    "fit": {"spectrum": ("i8", None), "params": ("f8", "P"), "stderr": ("f8", "P"),
            "chi2": ("f8", None), "chi2_red": ("f8", None), "status": ("i4", None),
            "n_iter": ("i4", None), "n_points": ("i4", None), "aic": ("f8", None),
            "bic": ("f8", None)},
    "kk": {"spectrum": ("i8", None), "M": ("i4", None), "mu": ("f8", None),
           "pseudo_chi2": ("f8", None), "valid": ("u1", None), "mask": ("u1", "F"),
           "representation": ("u1", None)},
    "drt": {"spectrum": ("i8", None), "tau": ("f8", "T"), "gamma": ("f8", "T"),
            "R_inf": ("f8", None), "L": ("f8", None), "lam": ("f8", None),
            "status": ("i4", None)},
    "drt_band": {"spectrum": ("i8", None), "gamma_lo": ("f8", "T"), "gamma_hi": ("f8", "T")},
    "zhit": {"spectrum": ("i8", None), "valid": ("u1", None), "noise": ("f8", None),
             "modulus": ("f8", "F"), "residuals": ("f8", "F"), "mask": ("u1", "F"),
             "decision": ("f8", "F"), "tolerance": ("f8", "F")},
    "compare": {"spectrum": ("i8", None), "best": ("i4", None), "weights": ("f8", "M"),
                "scores": ("f8", "M")},
}


def options_json(options) -> str:
    """A run's options as the JSON text stored with it (keys sorted; numpy values as
    numbers and lists, anything else as its str), compared when a run is resumed."""
    return json.dumps(dict(options or {}), sort_keys=True, default=json_default)


def _field(obj, name, B, fill, dtype):
    v = getattr(obj, name, None)
    if v is None:
        return np.full(B, fill, dtype)
    v = np.asarray(v)
    return np.broadcast_to(v, (B,)).astype(dtype) if v.ndim == 0 else v.astype(dtype)


def _rows_check(what: str, B: int, n: int, run: str, path) -> None:
    if B != n:
        raise StoreError(f"{path}: run {run!r}: {n} spectrum indices for {B} {what} results")


def fit_rows(result, indices: np.ndarray, run: str, path) -> dict:
    params = np.atleast_2d(np.asarray(result.params, np.float64))
    B, P = params.shape
    _rows_check("fit", B, indices.size, run, path)
    stderr = getattr(result, "stderr", None)
    stderr = np.full((B, P), np.nan) if stderr is None else np.asarray(stderr, np.float64).reshape(B, P)
    rows = {"spectrum": indices, "params": params, "stderr": stderr,
            "chi2": _field(result, "chi2", B, np.nan, np.float64),
            "chi2_red": _field(result, "chi2_red", B, np.nan, np.float64),
            "status": _field(result, "status", B, 0, np.int32),
            "n_iter": _field(result, "n_iter", B, -1, np.int32),
            "n_points": _field(result, "n_points", B, -1, np.int32)}
    for name in ("aic", "bic"):
        try:
            rows[name] = _field(result, name, B, np.nan, np.float64)
        except (TypeError, ValueError, AttributeError):
            rows[name] = np.full(B, np.nan)
    return rows


def kk_rows(result, indices: np.ndarray, run: str, path) -> dict:
    M = np.asarray(result.M).reshape(-1)
    B = M.size
    _rows_check("KK", B, indices.size, run, path)
    mask = getattr(result, "mask", None)
    mask = np.ones((B, 1), np.uint8) if mask is None else np.asarray(mask).reshape(B, -1).astype(np.uint8)
    rep = getattr(result, "representation", None)
    rep = (np.zeros(B, np.uint8) if rep is None
           else (np.asarray(rep).reshape(B) == "admittance").astype(np.uint8))
    return {"spectrum": indices, "M": M.astype(np.int32),
            "mu": _field(result, "mu", B, np.nan, np.float64),
            "pseudo_chi2": _field(result, "pseudo_chi2", B, np.nan, np.float64),
            "valid": _field(result, "valid", B, 0, np.uint8), "mask": mask,
            "representation": rep}


def band_rows(result, indices: np.ndarray, run: str, path) -> dict:
    lo = np.atleast_2d(np.asarray(result.gamma_lo, np.float64))
    _rows_check("DRT band", lo.shape[0], indices.size, run, path)
    return {"spectrum": indices, "gamma_lo": lo,
            "gamma_hi": np.atleast_2d(np.asarray(result.gamma_hi, np.float64))}


def zhit_rows(result, indices: np.ndarray, run: str, path) -> dict:
    valid = np.asarray(result.valid).reshape(-1)
    B = valid.size
    _rows_check("Z-HIT", B, indices.size, run, path)
    modulus = np.asarray(result.modulus, np.float64).reshape(B, -1)

    def per_point(name):                       # NaN for a result object without it
        v = getattr(result, name, None)
        return (np.full(modulus.shape, np.nan) if v is None
                else np.asarray(v, np.float64).reshape(modulus.shape))

    return {"spectrum": indices, "valid": valid.astype(np.uint8),
            "noise": np.asarray(result.noise, np.float64).reshape(B),
            "modulus": modulus, "residuals": per_point("residuals"),
            "mask": np.asarray(result.mask).reshape(B, -1).astype(np.uint8),
            "decision": per_point("decision"), "tolerance": per_point("tolerance")}


def drt_rows(result, indices: np.ndarray, run: str, path) -> dict:
    gamma = np.atleast_2d(np.asarray(result.gamma, np.float64))
    B, T = gamma.shape
    _rows_check("DRT", B, indices.size, run, path)
    tau = np.asarray(result.tau, np.float64)
    tau = np.broadcast_to(tau, (B, T)) if tau.ndim == 1 else tau.reshape(B, T)
    return {"spectrum": indices, "tau": np.ascontiguousarray(tau), "gamma": gamma,
            "R_inf": _field(result, "R_inf", B, np.nan, np.float64),
            "L": _field(result, "L", B, np.nan, np.float64),
            "lam": _field(result, "lam", B, np.nan, np.float64),
            "status": _field(result, "status", B, 0, np.int32)}


def compare_rows(result, indices: np.ndarray, run: str, path) -> dict:
    best = np.asarray(result.best_index).reshape(-1)
    B = best.size
    _rows_check("compare", B, indices.size, run, path)
    return {"spectrum": indices, "best": best.astype(np.int32),
            "weights": np.asarray(result.weights, np.float64).reshape(B, -1),
            "scores": np.asarray(result.scores, np.float64).reshape(B, -1)}


def latest_rows(spectrum: np.ndarray) -> np.ndarray:
    """Row numbers holding the last committed row of each spectrum, sorted by spectrum."""
    if spectrum.size == 0:
        return np.zeros(0, np.int64)
    rev = spectrum[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    return (spectrum.size - 1 - first_in_rev).astype(np.int64)
