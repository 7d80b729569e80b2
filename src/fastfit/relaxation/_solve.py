"""`drt`: group spectra by grid and lambda, solve every group exactly, assemble."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._batch import Batch, as_batch, bucket_size
from ..errors import DataError
from ._result import DRTResult, drt_status
from ._system import (LAM_GRID, build_system, check_lam, check_options, fastfit_tau,
                      pydrttools_tau)

__all__ = ["drt"]

_CHUNK = 8192        # spectra per compiled call (bounds memory and the number of programs)
_RHO = 0.01
# (ADMM iterations, factorisation budget) per stage; the last budget is the real limit
_STAGES_SMALL = ((200, 10), (600, 12), (3000, 500))
_STAGES_LARGE = ((150, 6), (600, 12), (3000, 500))
_STRIDE = 4          # warm start: ADMM on every 4th spectrum, the 3 after it start
                     # pivoting from its positive set


class _Group(NamedTuple):
    """Spectra sharing one system: rows ``idx`` (k,), their used points ``pos`` (k, Fg)
    in row order of the system, its frequencies ``freq`` (Fg,) and row weights (Fg,)."""

    idx: np.ndarray
    pos: np.ndarray
    freq: np.ndarray
    weight: np.ndarray


class _Grid(NamedTuple):
    """Where gamma is reported (``tau`` (T_out,) s) and the basis of the whole batch
    (``log_tau``, ``eps``: None for "pydrttools", whose basis depends on the group);
    ``n_basis``: columns of the per-spectrum coefficient arrays."""

    tau: np.ndarray
    log_tau: np.ndarray | None
    eps: float | None
    n_basis: int


def drt(freq, Z=None, lam=1e-6, n_tau=200, tau_range=None, derivative=2, part="both",
        basis="gaussian", rbf_shape=0.5, nonneg=True, fit_R_inf=True, fit_L=True, mask=None,
        lam_select=None, lam_grid=None, warm_start=False, discretisation="fastfit") -> DRTResult:
    """Distribution of relaxation times of one or many spectra (exact, batched).

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`~fastfit.SpectrumSeries` (then Z=None)
    Z : (F,) or (B, F) complex, ohm (Z' + jZ'', capacitive arcs have Z'' < 0)
    lam : float or (B,) float -- Tikhonov parameter, pyDRTtools' convention (see the
        docstring of :mod:`fastfit.relaxation` for the exact normalisation)
    n_tau : int -- basis functions for ``discretisation="fastfit"`` (log-spaced; the
        "pydrttools" discretisation has one per used frequency)
    tau_range : (tau_min, tau_max) s or None -- "fastfit" only; default [1/f_max, 1/f_min]
        (pyDRTtools' span) widened by 1.4 mean ln-f point spacings on each side (one grid
        for the whole batch, from the union of all used frequencies; see
        :mod:`fastfit.relaxation` for why)
    derivative : 0, 1 or 2 -- order of the derivative in the penalty
    part : "both" | "real" | "imag" -- which rows are fitted
    basis : "gaussian" | "piecewise_linear"
    rbf_shape : float -- FWHM coefficient: the RBF full width at half maximum is the
        ln-tau spacing divided by it (pyDRTtools' "FWHM Coefficient", default 0.5)
    nonneg : bool -- constrain gamma, R_inf and L to be >= 0 (else plain ridge)
    fit_R_inf, fit_L : bool -- include the series resistance / inductance
    mask : (F,) or (B, F) bool -- False excludes a point (zero weight)
    lam_select : None | "gcv" | "lcurve" | "re-im" -- choose lam per spectrum on
        ``lam_grid`` (same units as ``lam``; default 1e-10..1, 4 per decade; ``lam`` is
        then ignored); the chosen values are the grid points ("lambda buckets": spectra
        sharing one are solved with one shared factorisation).  Scores
        use the unconstrained ridge solution, as pyDRTtools does, but the whole grid is
        scored (global minimum) where pyDRTtools runs a local optimiser from one start
        (SLSQP from ln 1e-3, which often stops at its bounds or after one step).
    warm_start : bool -- treat the batch as a time series: only every 4th spectrum
        gets its own ADMM guess of the positive set, the 3 after it start pivoting from
        that guess (the answer is the same exact optimum either way; only the work
        differs -- benchmarks/results_drt.md measures when it pays)
    discretisation : "fastfit" | "pydrttools" -- "pydrttools" reproduces pyDRTtools'
        ``simple_run`` matrices (tau = 1/f of the used points, Gaussian shape from the
        mean spacing, its Toeplitz shortcut on nearly log-spaced grids, its PWL
        formulas); ``gamma`` is then reported on its ``out_tau_vec``

    Returns
    -------
    DRTResult

    Examples
    --------
    >>> import numpy as np, fastfit as ff
    >>> f = np.logspace(5, -2, 71)
    >>> Z = 10 + 100 / (1 + (2j * np.pi * f * 1e-3) ** 0.9)
    >>> d = ff.drt(f, Z)
    >>> round(float(d.R_pol[0]), 0), bool(d.ok[0])
    (100.0, True)
    """
    o = dict(n_tau=n_tau, tau_range=tau_range, derivative=derivative, part=part, basis=basis,
             rbf_shape=rbf_shape, fit_R_inf=bool(fit_R_inf), fit_L=bool(fit_L),
             lam_select=lam_select, discretisation=discretisation)
    check_options(o)
    batch = as_batch(freq, Z, mask, min_points=3)
    lam = check_lam(lam, batch.n_spectra)
    lams = None if lam_select is None else _lam_grid(lam_grid)
    grid = _output_grid(batch, o)
    out = _empty_output(batch, grid, lam)
    scores = None if lams is None else np.zeros((batch.n_spectra, lams.size))
    for group in _groups(batch, discretisation):
        system, blocks, E, log_tau, eps = _discretise(group, grid, o)
        Zg = np.take_along_axis(batch.Z[group.idx], group.pos, axis=1)
        if lams is not None:
            sc, pick = _select(system, blocks, Zg, lams, lam_select, o)
            scores[group.idx] = sc
            out["lam"][group.idx] = lams[pick]
        x, st, ns = _solve_by_lam(system, blocks, Zg, out["lam"][group.idx], nonneg, warm_start)
        _store(out, group, system, E, log_tau, x, st, ns)
        out["Z_fit"][group.idx] = _model(batch, group, blocks, log_tau, eps, x, o)
    residuals = np.where(batch.mask, out["Z_fit"] - batch.Z, 0.0)
    options = dict(o, nonneg=bool(nonneg), warm_start=bool(warm_start), eps=grid.eps)
    out["status"] = drt_status(out["status"])
    return DRTResult(tau=grid.tau, residuals=residuals, freq=batch.freq, mask=batch.mask,
                     lam_grid=lams, lam_scores=scores, options=options, **out)


def _lam_grid(lam_grid) -> np.ndarray:
    """Sorted lambda grid for ``lam_select`` (default ``LAM_GRID``), checked."""
    grid = np.asarray(LAM_GRID if lam_grid is None else lam_grid, np.float64).reshape(-1)
    if grid.size < 3 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise DataError("lam_grid must hold at least 3 finite values > 0")
    return np.sort(grid)


def _output_grid(batch: Batch, o: dict) -> _Grid:
    """The reporting grid: pyDRTtools' ``out_tau_vec`` (10 points per used frequency,
    +-0.5 decade) for "pydrttools", else the basis centres of the whole batch."""
    if o["discretisation"] == "pydrttools":
        used = batch.freq[batch.mask]
        Fmax = int(batch.mask.sum(axis=1).max())
        tau = np.logspace(np.log10(1 / used.max()) - 0.5, np.log10(1 / used.min()) + 0.5, 10 * Fmax)
        return _Grid(tau, None, None, Fmax)
    log_tau, eps = fastfit_tau(batch.freq, batch.mask, o)
    return _Grid(np.exp(log_tau), log_tau, float(eps), o["n_tau"])


def _empty_output(batch: Batch, grid: _Grid, lam: np.ndarray) -> dict:
    B, F = batch.Z.shape
    Tb = grid.n_basis
    return dict(coef=np.zeros((B, Tb)), tau_basis=np.full((B, Tb), np.nan),
                basis_weight=np.zeros((B, Tb)), gamma=np.zeros((B, grid.tau.size)),
                R_inf=np.zeros(B), L=np.zeros(B), R_pol=np.zeros(B), lam=lam.copy(),
                status=np.zeros(B, np.int64), n_solves=np.zeros(B, np.int64),
                Z_fit=np.zeros((B, F), complex))


def _discretise(group: _Group, grid: _Grid, o: dict):
    """(system, blocks, E, log_tau, eps) of one group (:func:`build_system`)."""
    if grid.log_tau is None:
        log_tau, eps, toep = pydrttools_tau(group.freq, o)
        system, blocks, E = build_system(group.freq, group.weight, log_tau, eps, o, grid.tau,
                                         toep)
        return system, blocks, E, log_tau, eps
    system, blocks, E = build_system(group.freq, group.weight, grid.log_tau, grid.eps, o, grid.tau)
    return system, blocks, E, grid.log_tau, grid.eps


def _solve_by_lam(system, blocks, Zg, lam, nonneg, warm_start):
    """x (k, N), status (k,), n_solves (k,) of a group: one solve per distinct lambda."""
    Are, Aim, w_re, w_im = blocks
    b = np.concatenate([Zg.real * w_re, Zg.imag * w_im], axis=1)
    k = b.shape[0]
    x = np.zeros((k, system.A.shape[1]))
    st = np.zeros(k, np.int64)
    ns = np.zeros(k, np.int64)
    for lv in np.unique(lam):
        sub = np.nonzero(lam == lv)[0]
        x[sub], st[sub], ns[sub] = _solve(system, b[sub], lv, nonneg, warm_start)
    return x, st, ns


def _store(out: dict, group: _Group, system, E, log_tau, x, st, ns) -> None:
    """Write one group's coefficients and derived quantities into ``out``."""
    idx, T = group.idx, log_tau.size
    coef = x[:, 2:]
    out["coef"][idx, :T] = coef
    out["tau_basis"][idx, :T] = np.exp(log_tau)
    out["basis_weight"][idx, :T] = system.weight
    out["gamma"][idx] = coef @ E.T
    out["R_inf"][idx], out["L"][idx] = x[:, 0], x[:, 1]
    out["R_pol"][idx] = coef @ system.weight
    out["status"][idx], out["n_solves"][idx] = st, ns


def _model(batch: Batch, group: _Group, blocks, log_tau, eps, x, o) -> np.ndarray:
    """(k, F) complex model of a group's spectra at all their points (masked included)."""
    Are, Aim, _, _ = blocks
    F = batch.n_freq
    coef = x[:, 2:]
    zf = x[:, :1] + 1j * 2 * np.pi * group.freq * x[:, 1:2] + coef @ (Are + 1j * Aim).T
    full = np.empty((group.idx.size, F), complex)
    np.put_along_axis(full, group.pos, zf, axis=1)
    if o["discretisation"] == "pydrttools" and group.pos.shape[1] < F:
        # model at masked/padded points, exact kernels
        fr = batch.freq[group.idx]
        Ar, Ai, _, _ = build_system(fr[0], np.ones(F), log_tau, eps, o)[1]
        rest = x[:, :1] + 1j * 2 * np.pi * fr * x[:, 1:2] + coef @ (Ar + 1j * Ai).T
        full = np.where(batch.mask[group.idx], full, rest)
    return full


def _groups(batch: Batch, discretisation: str) -> list[_Group]:
    """Spectra sharing one system."""
    f, m = batch.freq, batch.mask
    B, F = f.shape
    if discretisation == "fastfit":
        key = np.concatenate([np.where(m, f, 0.0), m.astype(np.float64)], axis=1)
        if batch.shared_freq and m.all():
            return [_Group(np.arange(B), np.broadcast_to(np.arange(F), (B, F)), f[0], np.ones(F))]
        _, inv = np.unique(key, axis=0, return_inverse=True)
        out = []
        for g in range(inv.max() + 1):
            idx = np.nonzero(inv.reshape(-1) == g)[0]
            out.append(_Group(idx, np.broadcast_to(np.arange(F), (idx.size, F)), f[idx[0]],
                              m[idx[0]].astype(np.float64)))
        return out
    order = np.argsort(np.where(m, -f, np.inf), axis=1, kind="stable")
    n_used = m.sum(axis=1)
    key = np.where(np.arange(F)[None, :] < n_used[:, None],
                   np.take_along_axis(f, order, axis=1), 0.0)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    out = []
    for g in range(inv.max() + 1):
        idx = np.nonzero(inv.reshape(-1) == g)[0]
        k = int(n_used[idx[0]])
        pos = order[idx, :k]
        out.append(_Group(idx, pos, f[idx[0], pos[0]], np.ones(k)))
    return out


def _select(system, blocks, Zg, grid, how, o):
    """Scores (k, G) and chosen grid index (k,) for one group."""
    from fastfit.kernels import reim_scores, ridge_scores

    Are, Aim, w_re, w_im = blocks
    b = np.concatenate([Zg.real * w_re, Zg.imag * w_im], axis=1)
    A = system.A * system.free[None, :]
    if how == "re-im":
        sc = np.asarray(reim_scores(Are, Aim, 2 * np.pi * system.freq, system.M[2:, 2:],
                                    np.asarray(system.free[:2], np.float64), Zg.real,
                                    Zg.imag, w_re, w_im, grid))
        return sc, np.argmin(np.where(np.isfinite(sc), sc, np.inf), axis=1)
    used = np.concatenate([w_re, w_im]) > 0
    sc = np.asarray(ridge_scores(A, system.M, used, b, grid, how))
    if how == "gcv":
        return sc, np.argmin(np.where(np.isfinite(sc), sc, np.inf), axis=1)
    return sc, np.argmax(np.where(np.isfinite(sc), sc, -np.inf), axis=1)


def _solve(system, b, lam, nonneg, warm_start):
    """x (k, N), status (k,) kernel codes, n_solves (k,) for spectra sharing system and lam.

    Stages (every stage: a fresh positive-set guess, then block pivoting with a budget of
    factorisations; the unfinished go on to the next stage in a smaller batch):
    ``_STAGES_SMALL`` for N <= 128 (ADMM iterations are cheap next to factorisations),
    ``_STAGES_LARGE`` above (a shorter first ADMM guess pays off on large systems;
    benchmarks/README.md, "Tuning history").
    """
    from fastfit.kernels import MAX_SOLVES, NNLS_STATUS, nnls_qp

    A = system.A
    N = A.shape[1]
    Np = -(-N // 8) * 8              # pad with pinned variables: fewer compiled shapes
    H = np.eye(Np)
    H[:N, :N] = A.T @ A + lam * system.M
    q = np.zeros((b.shape[0], Np))
    q[:, :N] = b @ A
    free = np.zeros(Np, bool)
    free[:N] = system.free
    nn = np.full(Np, bool(nonneg))
    stages = (_STAGES_SMALL if Np <= 136 else _STAGES_LARGE) if nonneg else ((0, MAX_SOLVES),)
    k = q.shape[0]
    x = np.zeros((k, N))
    st = np.zeros(k, np.int64)
    ns = np.zeros(k, np.int64)
    for start in range(0, k, _CHUNK):
        rows = np.arange(start, min(k, start + _CHUNK))
        for j, (n_admm, budget) in enumerate(stages):
            if not rows.size:
                break
            size = bucket_size(rows.size)
            stride = _STRIDE if (warm_start and j == 0 and n_admm and size >= 4 * _STRIDE) else 1
            # padding rows have q = 0: optimum x = 0, converged at the first solve
            qq = np.concatenate([q[rows], np.zeros((size - rows.size, Np))])
            r = nnls_qp(H, qq, nn, free, rho=_RHO, n_admm=n_admm, stride=stride,
                        max_solves=budget)
            r_x, r_st, r_ns = (np.asarray(v)[: rows.size] for v in (r.x, r.status, r.n_solves))
            x[rows], st[rows], ns[rows] = r_x[:, :N], r_st, ns[rows] + r_ns
            rows = rows[r_st == NNLS_STATUS["BUDGET"]]
    return x, st, ns
