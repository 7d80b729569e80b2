"""`kk`: batched linear Kramers-Kronig validation (lin-KK) with point exclusion.

The test (Schönleber, Klotz, Ivers-Tiffée 2014, after Boukamp 1995) fits a KK-compliant
chain of M Voigt elements with fixed, log-spaced time constants to every spectrum and
increases M until the fit starts to over-fit (the mu criterion).  What the chain cannot
reproduce -- drift, non-linearity, instrument artefacts -- shows up in the residuals.
The numerics live in :mod:`fastfit.kernels._kk`; this module validates input, pads the
batch, and packages the result.
"""
from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from .._batch import Batch, as_batch, bucket_size
from .._map_pressure import relieve
from ..errors import DataError, ShapeError
from ._indicators import drift_indicators, drift_inputs
from ._result import KKResult, KKStatus, kk_status

__all__ = ["kk"]

_MODES = ("complex", "real", "imag")
_REPRESENTATIONS = ("impedance", "admittance", "auto")
_RETRIES = 4         # admittance: continued M searches after an early mu stop
_EXCLUDE = ("ends", "any", None)
_CHUNK = 512
_WIDTH = 50         # padded RC columns of the compiled kernel (max_M up to this)
_MAX_COND = 1e10     # condition estimate above which the lin-KK fit is numerically rank deficient


def _check_options(c, max_M, min_M, mode, exclude, max_rel_residual, max_excluded,
                   representation="impedance"):
    if representation not in _REPRESENTATIONS:
        raise DataError(f"representation must be one of {_REPRESENTATIONS}, "
                        f"got {representation!r}")
    if c is not None:
        if isinstance(c, bool) or not np.isscalar(c) or not np.isfinite(c) or not 0 < c <= 1:
            raise DataError(f"c must be a number in (0, 1] or None (fixed M), got {c!r}")
    if isinstance(max_M, bool) or not isinstance(max_M, (int, np.integer)) or max_M < 1:
        raise DataError(f"max_M must be a positive integer, got {max_M!r}")
    if (isinstance(min_M, bool) or not isinstance(min_M, (int, np.integer))
            or not 1 <= min_M <= max_M):
        raise DataError(f"min_M must be an integer in [1, max_M={max_M}], got {min_M!r}")
    if mode not in _MODES:
        raise DataError(f"mode must be one of {_MODES}, got {mode!r}")
    if exclude not in _EXCLUDE:
        raise DataError(f"exclude must be 'ends', 'any' or None, got {exclude!r}")
    if not (np.isscalar(max_rel_residual) and np.isfinite(max_rel_residual)
            and max_rel_residual > 0):
        raise DataError(f"max_rel_residual must be a positive number, got {max_rel_residual!r}")
    if not (np.isscalar(max_excluded) and 0 <= max_excluded <= 1):
        raise DataError(f"max_excluded must be a fraction in [0, 1], got {max_excluded!r}")


def kk(freq, Z=None, c: float | None = 0.85, max_M: int = 50, mode: str = "complex",
       add_capacitance: bool = False, add_inductance: bool = True,
       max_rel_residual: float = 0.05, exclude: str | None = "ends", mask=None,
       max_excluded: float = 0.25, min_M: int = 1, time=None, time_end=None,
       groups=None, representation: str = "impedance") -> KKResult:
    r"""Linear Kramers-Kronig test of a batch of impedance spectra.

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`~fastfit.SpectrumSeries` (then ``Z`` is
        omitted; its times are used for the drift indicators)
    Z : (F,) or (B, F) complex, ohm (Z' + jZ'', capacitive Z'' < 0)
    c : float in (0, 1] or None
        mu threshold; M grows from 1 until mu <= c or M = max_M.  None fits exactly
        ``max_M`` elements.
    max_M : int, largest number of RC elements
    mode : "complex" (fit Z' and Z'' together), "real" (fit Z', then L [and C] to what is
        left of Z''), "imag" (fit Z'', then R0 to what is left of Z').  impedance.py's
        ``linKK`` calls this ``fit_type`` and defaults to "real".
    add_capacitance : bool, add a series capacitance (spectra with no low-frequency
        intercept, e.g. blocking electrodes)
    add_inductance : bool, add a series inductance (impedance.py always does)
    max_rel_residual : float, a point is bad when max(|res'|, |res''|) > this (relative
        to |Z|; the reference workflow uses 5 %)
    exclude : "ends" drops the bad points at the high- and low-frequency ends, each up to
        the first good point; "any" drops every bad point; None drops nothing
    mask : (F,) or (B, F) bool, points to use (default: all)
    max_excluded : float, fraction of a spectrum's points that may be dropped before the
        spectrum is declared invalid
    min_M : int, first M tried (impedance.py starts at 1; a larger start avoids the early
        stop at small M, when a coarse tau grid already gives negative R_k)
    time, time_end : optional (B,) s, start/end of each sweep: the spectra form a time
        series and drift indicators are computed (see :func:`fastfit.validation.drift`)
    groups : optional (B,) labels: consecutive spectra with equal labels form one series
    representation : "impedance" (default) | "admittance" | "auto" -- fit the Voigt chain
        to Z, the parallel RC ladder (Maxwell form) with a parallel capacitance to
        Y = 1/Z, or both, keeping per spectrum the one with the lower pseudo chi^2
        (``KKResult.representation`` says which).  Residuals, ``pseudo_chi2``, ``mask``
        and ``valid`` always refer to the impedance, so the 5 % rule reads the same.
        The admittance test suits spectra without a low-frequency intercept (blocking
        electrodes, capacitive tails); ``add_capacitance``/``add_inductance`` only apply
        to the impedance model.

    Returns
    -------
    KKResult

    Raises
    ------
    ShapeError, DataError
        bad shapes, non-finite data at used points, duplicate frequencies, fewer than 3
        used points, invalid options.

    Notes
    -----
    Model (Schönleber et al. 2014, eq. 12):

    .. math:: \hat Z(\omega) = R_0 + \sum_{k=1}^{M} \frac{R_k}{1 + j\omega\tau_k}
              + j\omega L \;[+ \frac{1}{j\omega C}]

    with :math:`\tau_1 = 1/\omega_{max}`, :math:`\tau_M = 1/\omega_{min}` and log-spaced
    :math:`\tau_k` in between (for M = 1 the single :math:`\tau = 1/\omega_{min}`), fitted by
    linear least squares with every point weighted by :math:`1/|Z|`.  M is the smallest
    number with :math:`\mu = 1 - \sum_{R_k<0}|R_k| / \sum_{R_k\ge0}|R_k| \le c`.  The
    definitions (τ grid, weighting, fit stages per mode, mu, loop) follow impedance.py's
    ``validation.linKK`` (v1.7.1): M, mu and the residuals agree with it to 1e-8 wherever its
    own linear algebra is accurate.  Two places where it is not: with ``mode="imag"`` its
    ``pinv`` returns a spurious non-zero coefficient for the all-zero R0 column that leaks
    into its R0, and with ``mode="complex", add_capacitance=True`` it inverts the unscaled
    normal equations (errors up to ~1e-4 in mu); fastfit solves every problem to the exact
    least-squares optimum (checked against exact rational arithmetic in the tests).

    Admittance representation (Schönleber & Ivers-Tiffée 2015): the parallel connection
    of a conductance, a capacitance, [an inductance,] and M branches R_k -- C_k in series,

    .. math:: \hat Y(\omega) = G_0 + j\omega C_p \;[+ \frac{1}{j\omega L_p}]
              + \sum_{k=1}^{M} G_k \frac{j\omega\tau_k}{1 + j\omega\tau_k},
              \qquad G_k = 1/R_k,\; \tau_k = R_k C_k,

    on the same tau grid, fitted to Y with weights 1/|Y| (relative residuals); the
    parallel inductance follows ``add_inductance`` (it absorbs the part of a
    low-frequency capacitive tail beyond the longest tau, as the series capacitance does
    for the impedance).  With :math:`\omega' = 1/\omega`, :math:`\tau' = 1/\tau`,
    :math:`j\omega\tau/(1+j\omega\tau) = \overline{1/(1+j\omega'\tau')}`, so this
    is the impedance model (R0 = G_0, R_k = G_k, 1/C = C_p, L = 1/L_p) fitted to
    :math:`\bar Y` at :math:`\omega'`: the same solver, equally well conditioned, and mu
    is computed on the G_k.  The fit is reported as Z_fit = 1/Y_fit.  On the coarse
    tau grids of small M, mu often drops below c while the fit is still poor; the
    admittance test therefore continues the M search (from M + 1, up to 4 times) for
    spectra whose fit leaves a point outside ``max_rel_residual`` (the impedance test
    keeps impedance.py's rule).

    References
    ----------
    M. Schönleber, D. Klotz, E. Ivers-Tiffée, Electrochim. Acta 131 (2014) 20-27,
    doi:10.1016/j.electacta.2014.01.034.
    B. A. Boukamp, J. Electrochem. Soc. 142 (1995) 1885-1894, doi:10.1149/1.2044210.
    M. Schönleber, E. Ivers-Tiffée, Electrochem. Commun. 58 (2015) 15-19,
    doi:10.1016/j.elecom.2015.05.018.

    Examples
    --------
    >>> import numpy as np, fastfit as ff
    >>> f = np.logspace(5, -1, 61)
    >>> rng = np.random.default_rng(0)
    >>> Z = 10 + 100 / (1 + (1j * 2 * np.pi * f * 1e-3) ** 0.9)
    >>> Z = Z * (1 + 1e-3 * rng.standard_normal(61))       # 0.1 % noise
    >>> r = ff.kk(f, Z)
    >>> int(r.M[0]), bool(r.valid[0]), float(np.abs(r.residuals_real).max()) < 5e-3
    (26, True, True)
    """
    series = freq if (Z is None and hasattr(freq, "Z") and hasattr(freq, "mask")) else None
    _check_options(c, max_M, min_M, mode, exclude, max_rel_residual, max_excluded,
                   representation)
    batch = as_batch(freq, Z, mask, min_points=3)
    relieve()
    _check_series_labels(batch.n_spectra, time=time, time_end=time_end, groups=groups)
    options = dict(c=c, max_M=int(max_M), min_M=int(min_M), mode=mode,
                   add_capacitance=bool(add_capacitance),
                   add_inductance=bool(add_inductance), max_rel_residual=float(max_rel_residual),
                   exclude=exclude, max_excluded=float(max_excluded),
                   representation=representation)
    args = (c, int(max_M), int(min_M), mode, bool(add_capacitance), bool(add_inductance))
    run = lambda adm: _package(batch, (  # noqa: E731
        _run_admittance(batch, *args, float(max_rel_residual)) if adm
        else _run_kernel(batch, *args)), options, adm)
    if representation == "auto":
        result = _choose(run(False), run(True))
    else:
        result = run(representation == "admittance")
    auto = (series is not None and len(series) >= 2 and np.all(np.isfinite(series.time)))
    if time is not None or auto:
        src = series if series is not None else batch.freq
        inputs = drift_inputs(src, None if series is not None else batch.Z,
                              mask=mask if series is not None else batch.mask, time=time,
                              time_end=time_end, groups=groups)
        result = replace(result, drift=drift_indicators(inputs, result))
    return result


def _check_series_labels(B: int, **labels) -> None:
    for name, t in labels.items():
        if t is not None and np.asarray(t).reshape(-1).shape != (B,):
            raise ShapeError(f"{name} has {np.asarray(t).size} entries for {B} spectra")


def _choose(rz: KKResult, ry: KKResult) -> KKResult:
    """Per spectrum the representation with the lower pseudo chi^2 (impedance on ties or
    when the admittance fit is not finite)."""
    pick = ry.pseudo_chi2 < np.where(np.isfinite(rz.pseudo_chi2), rz.pseudo_chi2, np.inf)
    kw = {}
    for fld in fields(rz):
        a, b = getattr(rz, fld.name), getattr(ry, fld.name)
        if fld.name in rz.shared_fields or not isinstance(a, np.ndarray):
            continue
        kw[fld.name] = np.where(pick.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)
    return replace(rz, **kw)


def _package(batch: Batch, out: dict, options: dict, admittance: bool = False) -> KKResult:
    """KKResult from the kernel output: relative residuals, excluded points, validity."""
    max_rel, max_M = options["max_rel_residual"], options["max_M"]
    used = batch.mask
    aZ = np.abs(batch.Z)
    res = np.where(used, (batch.Z - out["z_fit"]) / np.where(used, aZ, 1.0), np.nan + 0j)
    rr, ri = res.real.copy(), res.imag.copy()
    Z_fit = np.where(used, out["z_fit"], np.nan + 0j)
    pseudo = np.where(used, rr ** 2 + ri ** 2, 0.0).sum(axis=1)
    keep = used & ~_exclusion(batch.freq, rr, ri, used, max_rel, options["exclude"])
    status = out["status"]
    n_used = used.sum(axis=1)
    n_keep = keep.sum(axis=1)
    within = ~np.any(keep & ~(np.maximum(np.abs(rr), np.abs(ri)) <= max_rel), axis=1)
    valid = ((status != KKStatus.NONFINITE) & (out["cond"] < _MAX_COND) & within & (n_keep >= 3)
             & (n_used - n_keep <= np.floor(options["max_excluded"] * n_used + 1e-9)))
    coef = out["coef"]
    B = coef.shape[0]
    nan, nanM = np.full(B, np.nan), np.full((B, max_M), np.nan)
    if admittance:      # coefficients of G0, G_k, j w C_p, 1 / (j w L_p)
        x_l = coef[:, -1]
        with np.errstate(divide="ignore"):
            L_par = np.where(x_l != 0, 1.0 / np.where(x_l != 0, x_l, 1.0), np.inf)
        # the kernel's time constants are 1/tau, ascending: reverse the first M of each row
        k = np.arange(max_M)[None, :]
        rev = np.where(k < out["M"][:, None], out["M"][:, None] - 1 - k, k)
        G = np.take_along_axis(coef[:, 1:max_M + 1], rev, axis=1)
        t = np.take_along_axis(out["tau"], rev, axis=1)
        tau = np.where(t > 0, 1.0 / np.where(t > 0, t, 1.0), 0.0)
        zpart = dict(R0=nan, R=nanM, L=nan, C=nan)
        ypart = dict(G0=coef[:, 0], G=G, C_par=coef[:, -2], L_par=L_par)
    else:
        x_c = coef[:, -2]
        with np.errstate(divide="ignore"):
            C = np.where(x_c != 0, 1.0 / np.where(x_c != 0, x_c, 1.0), np.inf)
        zpart = dict(R0=coef[:, 0], R=coef[:, 1:max_M + 1], L=coef[:, -1], C=C)
        ypart = dict(G0=nan, G=nanM, C_par=nan, L_par=nan)
        tau = out["tau"]
    rep = np.full(B, "admittance" if admittance else "impedance")
    return KKResult(
        M=out["M"], mu=out["mu"], residuals_real=rr, residuals_imag=ri, pseudo_chi2=pseudo,
        mask=keep, valid=valid, Z_fit=Z_fit, status=status, cond=out["cond"],
        tau=tau, freq=batch.freq, used=used, representation=rep, options=options,
        **zpart, **ypart)


def _run_admittance(batch: Batch, c, max_M, min_M, mode, add_cap, add_ind, max_rel) -> dict:
    """The admittance test with its M search continued past a mu stop that leaves a
    point outside ``max_rel`` (an early stop of the coarse grid): such spectra run again
    from M + 1, up to ``_RETRIES`` times (the remaining ones keep their fit), in one call
    on the whole batch that the others skip."""
    out = {k: np.array(v) for k, v in
           _run_kernel(batch, c, max_M, min_M, mode, add_cap, add_ind, True).items()}
    for _ in range(_RETRIES if c is not None else 0):
        res = (batch.Z - out["z_fit"]) / np.abs(batch.Z)
        rel = np.where(batch.mask, np.maximum(np.abs(res.real), np.abs(res.imag)), 0.0)
        under = ((out["status"] == KKStatus.MU_REACHED) & (out["M"] < max_M)
                 & ~np.all(rel <= max_rel, axis=1))
        if not under.any():
            break
        # the whole batch again (same shapes, same compiled program); the others skip
        start = np.where(under, out["M"] + 1, max_M + 1)
        again = _run_kernel(batch, c, max_M, start, mode, add_cap, add_ind, True)
        for k, v in again.items():
            out[k][under] = v[under]
    return out


def _run_kernel(batch: Batch, c, max_M, min_M, mode, add_cap, add_ind, admittance=False):
    """Pad to a bucket, call the compiled kernel, slice back (numpy dict).  ``min_M``: int
    or (B,) per spectrum (above ``max_M``: skipped, outputs meaningless).  With
    ``admittance`` the kernel fits the impedance model at 1/w to conj(1/Z) (see the Notes
    of :func:`kk`) and ``z_fit`` is converted back to the impedance."""
    from fastfit.kernels import KK_MODES, lin_kk

    B, F = batch.Z.shape
    size = bucket_size(B)
    pad = size - B
    Zp, fp, mp = batch.Z, batch.freq, batch.mask
    if pad:
        Zp = np.concatenate([Zp, np.repeat(Zp[-1:], pad, axis=0)])
        fp = np.concatenate([fp, np.repeat(fp[-1:], pad, axis=0)])
        mp = np.concatenate([mp, np.repeat(mp[-1:], pad, axis=0)])
    # per spectrum (one program for first runs and reruns); padding rows are skipped
    min_M = np.concatenate([np.broadcast_to(np.asarray(min_M, np.int64), (B,)),
                            np.full(pad, max_M + 1, np.int64)])
    omega = 2 * np.pi * fp
    shared = batch.shared_freq and bool(np.all(mp == mp[:1]))
    om = omega[0] if shared else omega
    width = _WIDTH if max_M <= _WIDTH else -(-max_M // 25) * 25   # one program per width
    if admittance:     # the impedance model at 1/w fitted to conj(Y) (see kk's Notes)
        Zp, add_cap, om = np.conj(1.0 / Zp), True, 1.0 / om
    o = lin_kk(om, Zp, mp.astype(np.float64), 0.85 if c is None else float(c), max_M=max_M,
               min_M=min_M, fixed=c is None, mode=KK_MODES[mode], add_cap=add_cap,
               add_ind=add_ind, width=width, chunk=min(_CHUNK, size))
    z_fit = np.asarray(o.z_fit)[:B]
    if admittance:
        with np.errstate(divide="ignore", invalid="ignore"):
            z_fit = 1.0 / np.conj(z_fit)
    return dict(M=np.asarray(o.M)[:B].astype(np.int64), mu=np.asarray(o.mu)[:B],
                coef=np.asarray(o.coef)[:B], tau=np.asarray(o.tau)[:B, :max_M],
                z_fit=z_fit, status=kk_status(np.asarray(o.status)[:B]),
                cond=np.asarray(o.cond)[:B])


def _exclusion(freq, rr, ri, used, max_rel, exclude) -> np.ndarray:
    """(B, F) bool, used points dropped by the test (vectorised over spectra): a used
    point is bad when max(|res'|, |res''|) > max_rel (NaN counts as bad); see
    :func:`drop_points` for ``exclude``."""
    rel = np.maximum(np.abs(rr), np.abs(ri))
    return drop_points(freq, used & ~(rel <= max_rel), used, exclude)


def drop_points(freq, bad, used, exclude) -> np.ndarray:
    """(B, F) bool, the bad used points a test drops (vectorised over spectra).

    ``exclude``: "ends" -- the run of bad points at the high-frequency end and the run at
    the low-frequency end, each up to the first good point (unused points are skipped);
    "any" -- every bad point; None -- none.
    """
    if exclude is None:
        return np.zeros(used.shape, bool)
    bad = used & bad
    if exclude == "any":
        return bad
    drop = np.zeros_like(bad)
    rows = np.nonzero(bad.any(axis=1))[0]            # only spectra with a bad point
    if not rows.size:
        return drop
    f, bd, us = freq[rows], bad[rows], used[rows]
    order = np.argsort(np.where(us, f, np.inf), axis=1, kind="stable")  # ascending f
    b_s = np.take_along_axis(bd, order, axis=1)
    skip = b_s | ~np.take_along_axis(us, order, axis=1)
    low = np.cumprod(skip, axis=1).astype(bool)
    high = np.cumprod(skip[:, ::-1], axis=1)[:, ::-1].astype(bool)
    sub = np.zeros_like(bd)
    np.put_along_axis(sub, order, (low | high) & b_s, axis=1)
    drop[rows] = sub
    return drop
