"""Driver of :func:`fastfit.drt`: group spectra by grid and lambda, solve, assemble."""
from __future__ import annotations

import numpy as np

from ._validate import as_batch, bucket_size
from .drt import (LAM_GRID, DRTResult, _check_lam, _check_options, _fastfit_tau,
                  _pdt_tau, _system)
from .errors import DataError

_CHUNK = 8192        # spectra per compiled call (bounds memory and the number of programs)
_RHO = 0.01
# (ADMM iterations, factorisation budget) per stage; the last budget is the real limit
_STAGES_SMALL = ((200, 10), (600, 12), (3000, 500))
_STAGES_LARGE = ((150, 6), (600, 12), (3000, 500))
_STRIDE = 4          # warm start: ADMM on every 4th spectrum, the 3 after it start
                     # pivoting from its positive set


def drt(freq, Z=None, lam=1e-6, n_tau=200, tau_range=None, derivative=2, part="both",
        basis="gaussian", rbf_shape=0.5, nonneg=True, fit_R_inf=True, fit_L=True, mask=None,
        lam_select=None, lam_grid=None, warm_start=False, discretisation="fastfit") -> DRTResult:
    """Distribution of relaxation times of one or many spectra (exact, batched).

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`~fastfit.SpectrumSeries` (then Z=None)
    Z : (F,) or (B, F) complex, ohm (Z' + jZ'', capacitive arcs have Z'' < 0)
    lam : float or (B,) float -- Tikhonov parameter, pyDRTtools' convention (see the
        module docstring of :mod:`fastfit.drt` for the exact normalisation)
    n_tau : int -- basis functions for ``discretisation="fastfit"`` (log-spaced; the
        "pydrttools" discretisation has one per used frequency)
    tau_range : (tau_min, tau_max) s or None -- "fastfit" only; default [1/f_max, 1/f_min]
        (pyDRTtools' span) widened by 1.4 mean ln-f point spacings on each side (one grid
        for the whole batch, from the union of all used frequencies; see
        :mod:`fastfit.drt` for why)
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
        differs -- see benchmarks/results_drt.md for when it pays)
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
    _check_options(o)
    batch = as_batch(freq, Z, mask, min_points=3)
    B, F = batch.Z.shape
    lam = _check_lam(lam, B)
    grid = None
    if lam_select is not None:
        grid = np.asarray(LAM_GRID if lam_grid is None else lam_grid, np.float64).reshape(-1)
        if grid.size < 3 or not np.all(np.isfinite(grid) & (grid > 0)):
            raise DataError("lam_grid must hold at least 3 finite values > 0")
        grid = np.sort(grid)
    groups = _groups(batch, discretisation)
    pdt = discretisation == "pydrttools"
    if pdt:
        used = batch.freq[batch.mask]
        Fmax = int(batch.mask.sum(axis=1).max())
        tau = np.logspace(np.log10(1 / used.max()) - 0.5, np.log10(1 / used.min()) + 0.5, 10 * Fmax)
        Tb = Fmax
    else:
        log_tau, eps = _fastfit_tau(batch.freq, batch.mask, o)
        tau = np.exp(log_tau)
        Tb = n_tau
    out = dict(coef=np.zeros((B, Tb)), tau_basis=np.full((B, Tb), np.nan),
               basis_weight=np.zeros((B, Tb)), gamma=np.zeros((B, tau.size)),
               R_inf=np.zeros(B), L=np.zeros(B), R_pol=np.zeros(B), lam=lam.copy(),
               status=np.zeros(B, np.int64), n_solves=np.zeros(B, np.int64),
               Z_fit=np.zeros((B, F), complex))
    scores = None if grid is None else np.zeros((B, grid.size))
    for idx, pos, fg, wg in groups:
        if pdt:
            log_tau, eps, toep = _pdt_tau(fg, o)
            system, blocks, E = _system(fg, wg, log_tau, eps, o, tau, toep)
        else:
            system, blocks, E = _system(fg, wg, log_tau, eps, o, tau)
        Zg = np.take_along_axis(batch.Z[idx], pos, axis=1)
        Are, Aim, w_re, w_im = blocks
        b = np.concatenate([Zg.real * w_re, Zg.imag * w_im], axis=1)
        if grid is not None:
            sc, pick = _select(system, blocks, Zg, grid, lam_select, o)
            scores[idx] = sc
            out["lam"][idx] = grid[pick]
        x = np.zeros((idx.size, system.A.shape[1]))
        st = np.zeros(idx.size, np.int64)
        ns = np.zeros(idx.size, np.int64)
        for lv in np.unique(out["lam"][idx]):
            sub = np.nonzero(out["lam"][idx] == lv)[0]
            x[sub], st[sub], ns[sub] = _solve(system, b[sub], lv, nonneg, warm_start)
        T = log_tau.size
        coef = x[:, 2:]
        out["coef"][idx, :T] = coef
        out["tau_basis"][idx, :T] = np.exp(log_tau)
        out["basis_weight"][idx, :T] = system.weight
        out["gamma"][idx] = coef @ E.T
        out["R_inf"][idx], out["L"][idx] = x[:, 0], x[:, 1]
        out["R_pol"][idx] = coef @ system.weight
        out["status"][idx], out["n_solves"][idx] = st, ns
        zf = x[:, :1] + 1j * 2 * np.pi * fg * x[:, 1:2] + coef @ (Are + 1j * Aim).T
        full = np.empty((idx.size, F), complex)
        np.put_along_axis(full, pos, zf, axis=1)
        if pdt and pos.shape[1] < F:       # model at masked/padded points, exact kernels
            fr = batch.freq[idx]
            Ar, Ai, _, _ = _system(fr[0], np.ones(F), log_tau, eps, o)[1]
            rest = x[:, :1] + 1j * 2 * np.pi * fr * x[:, 1:2] + coef @ (Ar + 1j * Ai).T
            full = np.where(batch.mask[idx], full, rest)
        out["Z_fit"][idx] = full
    residuals = np.where(batch.mask, out["Z_fit"] - batch.Z, 0.0)
    options = dict(o, nonneg=bool(nonneg), warm_start=bool(warm_start),
                   eps=None if pdt else float(eps))
    return DRTResult(tau=tau, residuals=residuals, freq=batch.freq, mask=batch.mask,
                     lam_grid=grid, lam_scores=scores, options=options, **out)


def _groups(batch, discretisation):
    """Spectra sharing one system: (idx, pos (k, Fg), freq (Fg,), weight (Fg,))."""
    f, m = batch.freq, batch.mask
    B, F = f.shape
    if discretisation == "fastfit":
        key = np.concatenate([np.where(m, f, 0.0), m.astype(np.float64)], axis=1)
        if batch.shared_freq and m.all():
            return [(np.arange(B), np.broadcast_to(np.arange(F), (B, F)), f[0], np.ones(F))]
        _, inv = np.unique(key, axis=0, return_inverse=True)
        out = []
        for g in range(inv.max() + 1):
            idx = np.nonzero(inv.reshape(-1) == g)[0]
            out.append((idx, np.broadcast_to(np.arange(F), (idx.size, F)), f[idx[0]],
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
        out.append((idx, pos, f[idx[0], pos[0]], np.ones(k)))
    return out


def _select(system, blocks, Zg, grid, how, o):
    """Scores (k, G) and chosen grid index (k,) for one group."""
    from fastfit.kernels import _drt_lam as KL
    Are, Aim, w_re, w_im = blocks
    b = np.concatenate([Zg.real * w_re, Zg.imag * w_im], axis=1)
    A = system.A * system.free[None, :]
    if how == "re-im":
        sc = np.asarray(KL.reim_scores(Are, Aim, 2 * np.pi * system.freq, system.M[2:, 2:],
                                       np.asarray(system.free[:2], np.float64), Zg.real,
                                       Zg.imag, w_re, w_im, grid))
        return sc, np.argmin(np.where(np.isfinite(sc), sc, np.inf), axis=1)
    used = np.concatenate([w_re, w_im]) > 0
    sc = np.asarray(KL.ridge_scores(A, system.M, used, b, grid, how))
    if how == "gcv":
        return sc, np.argmin(np.where(np.isfinite(sc), sc, np.inf), axis=1)
    return sc, np.argmax(np.where(np.isfinite(sc), sc, -np.inf), axis=1)


def _solve(system, b, lam, nonneg, warm_start):
    """x (k, N), status (k,), n_solves (k,) for spectra sharing system and lam.

    Stages (every stage: a fresh positive-set guess, then block pivoting with a budget of
    factorisations; the unfinished go on to the next stage in a smaller batch):
    ``_STAGES_SMALL`` for N <= 128 (ADMM iterations are cheap next to factorisations),
    ``_STAGES_LARGE`` above (150 ADMM iterations: on 1,000 mixtures with 200 RBFs this
    took 1.2 s against 2.9 s with the sign pattern of the unconstrained optimum as the
    first guess at lam = 1e-6, and the same 1.1 s at lam = 81e-6).  Measured on 81-point
    grids (benchmarks/results_drt.md).
    """
    from fastfit.kernels._nnls import MAX_SOLVES, nnls_qp
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
            r = [np.asarray(v)[: rows.size] for v in
                 nnls_qp(H, qq, nn, free, rho=_RHO, n_admm=n_admm, stride=stride,
                         max_solves=budget)]
            x[rows], st[rows], ns[rows] = r[0][:, :N], r[1], ns[rows] + r[3]
            rows = rows[r[1] == 0]
    return x, st, ns
