"""`drt`: group spectra by grid and lambda, solve every group exactly, assemble."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._batch import Batch, as_batch
from .._map_pressure import relieve
from ..errors import DataError
from ._joint import Solution, group_bands, group_signs, solve_group
from ._result import DRTResult, drt_status
from ._system import (LAM_GRID, build_system, check_extras, check_lam, check_options,
                      fastfit_tau, pydrttools_tau)
from ._tail import tail_params, tail_unit

__all__ = ["drt"]


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
        basis="gaussian", rbf_shape=0.5, nonneg: bool | None = None, fit_R_inf=True,
        fit_L=True, mask=None, lam_select=None, lam_grid=None, warm_start=False,
        discretisation="fastfit", *, sign: str | None = None, tail: str | None = None,
        tail_grid=None, bands: float | None = None, n_samples: int = 200, noise=None,
        seed: int = 0, max_misfit: float = 0.03) -> DRTResult:
    r"""Distribution of relaxation times of one or many spectra (exact, batched).

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
    nonneg : bool or None -- the older spelling of ``sign``: True = "nonnegative",
        False = "free" (give one of the two)
    fit_R_inf, fit_L : bool -- include the series resistance / inductance
    mask : (F,) or (B, F) bool -- False excludes a point (zero weight)
    lam_select : None | "gcv" | "lcurve" | "re-im" -- choose lam per spectrum on
        ``lam_grid`` (same units as ``lam``; default 1e-10..1, 4 per decade; ``lam`` is
        then ignored); the chosen values are the grid points ("lambda buckets": spectra
        sharing one are solved with one shared factorisation).  Scores
        use the unconstrained ridge solution (without a tail), as pyDRTtools does, but the
        whole grid is scored (global minimum) where pyDRTtools runs a local optimiser from
        one start (SLSQP from ln 1e-3, which often stops at its bounds or after one step).
    warm_start : bool -- treat the batch as a time series: only every 4th spectrum
        gets its own ADMM guess of the positive set, the 3 after it start pivoting from
        that guess (the answer is the same exact optimum either way; only the work
        differs -- benchmarks/results_drt.md measures when it pays)
    discretisation : "fastfit" | "pydrttools" -- "pydrttools" reproduces pyDRTtools'
        ``simple_run`` matrices (tau = 1/f of the used points, Gaussian shape from the
        mean spacing, its Toeplitz shortcut on nearly log-spaced grids, its PWL
        formulas); ``gamma`` is then reported on its ``out_tau_vec``
    sign : "nonnegative" (default) | "free" | "auto" -- the constraint on gamma:
        gamma >= 0 (and R_inf, L >= 0); none (plain ridge); or, per spectrum, gamma >= 0
        where the spectrum is capacitive and gamma <= 0 in the tau region where its
        imaginary part turns inductive below the high-frequency end (inductive loops:
        negative peaks; R_inf, L and the tail stay >= 0).  Every variant is solved
        exactly (KKT conditions); regions: :mod:`fastfit.relaxation._sign`
    tail : None | "cpe" | "warburg_short" | "warburg_open" -- a series element solved
        jointly with gamma for a diffusion-dominated low-frequency end: its amplitude is
        a non-negative column of the same problem, its shape (CPE exponent n, Warburg
        tau_W) the best value on ``tail_grid`` per spectrum; see
        :mod:`fastfit.relaxation._tail` (``tail_params`` of the result)
    tail_grid : (G,) float or None -- shape values tried (n for "cpe", tau_W in s)
    bands : float in (0, 1) or None -- credible level of ``gamma_lo``/``gamma_hi``
        (e.g. 0.95) and of the peak intervals; None (default) computes none
    n_samples : int -- posterior samples per spectrum for the bands (>= 10; the band's
        quantiles from S samples are good to about 1/sqrt(S) of its width)
    noise : float or (B,) float, ohm, or None -- std of the noise of Re Z and Im Z for
        the bands (None: estimated from the residual)
    seed : int -- seed of the posterior samples
    max_misfit : float -- ``poor_fit`` threshold on ``misfit`` (relative RMS residual)

    Returns
    -------
    DRTResult

    Notes
    -----
    Signed model: :math:`Z = R_\infty + j\omega L + \int \gamma(\ln\tau)/(1+j\omega\tau)\,
    d\ln\tau\; [+\,a\,t(\omega; s)]` with :math:`s_m x_m \ge 0` per basis function,
    :math:`s_m = -1` on inductive regions.  A negative Debye term
    :math:`-R/(1+j\omega\tau)` is an inductive loop (e.g. p(R, L) in series: R plus a
    negative peak of area -R at :math:`\tau = L/R`).  ``misfit`` is
    :math:`\sqrt{\sum|Z_{fit}-Z|^2 / \sum|Z|^2}` over the used points; ``poor_fit`` flags
    spectra above ``max_misfit`` (3 %; white noise of 1 % of |Z| alone gives ~1.4 %):
    a non-negative DRT of a spectrum with an
    inductive loop cannot follow the loop and is flagged.  Credible bands:
    :mod:`fastfit.relaxation._bands`.

    Examples
    --------
    >>> import numpy as np, fastfit as ff
    >>> f = np.logspace(5, -2, 71)
    >>> Z = 10 + 100 / (1 + (2j * np.pi * f * 1e-3) ** 0.9)
    >>> d = ff.drt(f, Z)
    >>> round(float(d.R_pol[0]), 0), bool(d.ok[0]), bool(d.poor_fit[0])
    (100.0, True, False)
    """
    sign = _check_sign(sign, nonneg)
    o = dict(n_tau=n_tau, tau_range=tau_range, derivative=derivative, part=part, basis=basis,
             rbf_shape=rbf_shape, fit_R_inf=bool(fit_R_inf), fit_L=bool(fit_L),
             lam_select=lam_select, discretisation=discretisation, sign=sign, tail=tail,
             tail_grid=tail_grid, bands=bands, n_samples=n_samples, max_misfit=max_misfit)
    check_options(o)
    check_extras(o)
    batch = as_batch(freq, Z, mask, min_points=3)
    relieve()
    lam = check_lam(lam, batch.n_spectra)
    noise = _check_noise(noise, batch.n_spectra, bands)
    lams = None if lam_select is None else _lam_grid(lam_grid)
    grid = _output_grid(batch, o)
    out = _empty_output(batch, grid, lam, o)
    scores = None if lams is None else np.zeros((batch.n_spectra, lams.size))
    rng = np.random.default_rng(seed)
    for group in _groups(batch, discretisation):
        system, blocks, E, log_tau, eps = _discretise(group, grid, o)
        Zg = np.take_along_axis(batch.Z[group.idx], group.pos, axis=1)
        if lams is not None:
            sc, pick = _select(system, blocks, Zg, lams, lam_select, o)
            scores[group.idx] = sc
            out["lam"][group.idx] = lams[pick]
        lam_g = out["lam"][group.idx]
        signs = group_signs(system, blocks, Zg, log_tau, sign)
        sol = solve_group(system, blocks, Zg, lam_g, signs, o, warm_start)
        _store(out, group, system, E, log_tau, sol, signs, o)
        if bands is not None:
            lo, hi, smp, sigma, sampled = group_bands(
                system, blocks, Zg, E, sol, signs, lam_g, o,
                None if noise is None else noise[group.idx], rng)
            idx, T = group.idx, log_tau.size
            out["gamma_lo"][idx], out["gamma_hi"][idx] = lo, hi
            out["samples"][idx, :, :T] = smp
            out["noise"][idx], out["band_sampled"][idx] = sigma, sampled
        out["Z_fit"][group.idx] = _model(batch, group, blocks, log_tau, eps, sol, o)
    residuals = np.where(batch.mask, out["Z_fit"] - batch.Z, 0.0)
    num = np.sum(np.abs(residuals) ** 2, axis=1)
    den = np.sum(np.where(batch.mask, np.abs(batch.Z) ** 2, 0.0), axis=1)
    out["misfit"] = np.sqrt(num / np.where(den > 0, den, 1.0))
    options = dict(o, nonneg=sign == "nonnegative", warm_start=bool(warm_start),
                   eps=grid.eps, seed=int(seed),
                   tail_grid=None if tail_grid is None else np.asarray(tail_grid).tolist())
    out["status"] = drt_status(out["status"])
    return DRTResult(tau=grid.tau, residuals=residuals, freq=batch.freq, mask=batch.mask,
                     lam_grid=lams, lam_scores=scores, options=options, **out)


_SIGNS = ("nonnegative", "free", "auto")


def _check_sign(sign, nonneg) -> str:
    """The sign option from ``sign`` and its older spelling ``nonneg``."""
    if sign is None:
        if nonneg is None:
            return "nonnegative"
        if not isinstance(nonneg, (bool, np.bool_)):
            raise DataError(f"nonneg must be True or False, got {nonneg!r}")
        return "nonnegative" if nonneg else "free"
    if sign not in _SIGNS:
        raise DataError(f"sign must be one of {_SIGNS}, got {sign!r}")
    if nonneg is not None and (sign == "nonnegative") != bool(nonneg):
        raise DataError(f"sign={sign!r} contradicts nonneg={nonneg!r}; give only sign")
    return sign


def _check_noise(noise, B, bands):
    """(B,) float noise std (ohm) or None."""
    if noise is None:
        return None
    if bands is None:
        raise DataError("noise is only used for the credible bands: pass bands=level too")
    a = np.asarray(noise, np.float64)
    a = np.full(B, float(a)) if a.ndim == 0 else a
    if a.shape != (B,):
        raise DataError(f"noise must be a scalar or have one value per spectrum ({B}), "
                        f"got shape {np.shape(noise)}")
    if not np.all(np.isfinite(a) & (a > 0)):
        raise DataError("noise must be finite and > 0 (ohm)")
    return a


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


def _empty_output(batch: Batch, grid: _Grid, lam: np.ndarray, o: dict) -> dict:
    B, F = batch.Z.shape
    Tb, To = grid.n_basis, grid.tau.size
    out = dict(coef=np.zeros((B, Tb)), tau_basis=np.full((B, Tb), np.nan),
               basis_weight=np.zeros((B, Tb)), gamma=np.zeros((B, To)),
               R_inf=np.zeros(B), L=np.zeros(B), R_pol=np.zeros(B), lam=lam.copy(),
               status=np.zeros(B, np.int64), n_solves=np.zeros(B, np.int64),
               Z_fit=np.zeros((B, F), complex), sign=np.zeros((B, Tb), np.int8))
    if o["tail"] is not None:
        out["tail_params"] = np.zeros((B, 2))
    if o["bands"] is not None:
        S = int(o["n_samples"])
        out.update(gamma_lo=np.zeros((B, To)), gamma_hi=np.zeros((B, To)),
                   samples=np.zeros((B, S, Tb)), noise=np.zeros(B),
                   band_sampled=np.zeros(B, bool))
    return out


def _discretise(group: _Group, grid: _Grid, o: dict):
    """(system, blocks, E, log_tau, eps) of one group (:func:`build_system`)."""
    if grid.log_tau is None:
        log_tau, eps, toep = pydrttools_tau(group.freq, o)
        system, blocks, E = build_system(group.freq, group.weight, log_tau, eps, o, grid.tau,
                                         toep)
        return system, blocks, E, log_tau, eps
    system, blocks, E = build_system(group.freq, group.weight, grid.log_tau, grid.eps, o, grid.tau)
    return system, blocks, E, grid.log_tau, grid.eps


def _store(out: dict, group: _Group, system, E, log_tau, sol: Solution, signs, o) -> None:
    """Write one group's coefficients and derived quantities into ``out``."""
    idx, T = group.idx, log_tau.size
    x = sol.x
    coef = x[:, 2:]
    out["coef"][idx, :T] = coef
    out["tau_basis"][idx, :T] = np.exp(log_tau)
    out["basis_weight"][idx, :T] = system.weight
    out["gamma"][idx] = coef @ E.T
    out["R_inf"][idx], out["L"][idx] = x[:, 0], x[:, 1]
    out["R_pol"][idx] = coef @ system.weight
    out["status"][idx], out["n_solves"][idx] = sol.status, sol.n_solves
    out["sign"][idx, :T] = 0 if o["sign"] == "free" else signs[:, 2:]
    if sol.amplitude is not None:
        out["tail_params"][idx] = tail_params(o["tail"], sol.amplitude, sol.shape)


def _model(batch: Batch, group: _Group, blocks, log_tau, eps, sol: Solution, o) -> np.ndarray:
    """(k, F) complex model of a group's spectra at all their points (masked included)."""
    Are, Aim, _, _ = blocks
    F = batch.n_freq
    x = sol.x
    coef = x[:, 2:]

    def series(fr):
        z = x[:, :1] + 1j * 2 * np.pi * fr * x[:, 1:2]
        if sol.amplitude is not None:
            z = z + sol.amplitude[:, None] * tail_unit(o["tail"], 2 * np.pi * fr,
                                                       sol.shape[:, None])
        return z

    zf = series(group.freq[None, :]) + coef @ (Are + 1j * Aim).T
    full = np.empty((group.idx.size, F), complex)
    np.put_along_axis(full, group.pos, zf, axis=1)
    if o["discretisation"] == "pydrttools" and group.pos.shape[1] < F:
        # model at masked/padded points, exact kernels
        fr = batch.freq[group.idx]
        Ar, Ai, _, _ = build_system(fr[0], np.ones(F), log_tau, eps, o)[1]
        rest = series(fr) + coef @ (Ar + 1j * Ai).T
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
