"""`zhit`: batched Z-HIT -- the modulus reconstructed from the phase, compared with |Z|.

The numerics live in :mod:`fastfit.kernels._zhit`; this module validates input, puts every
spectrum's used points in ascending frequency order, groups spectra that share a grid
(one operator per grid), calls the kernel and packages a :class:`ZHITResult`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._batch import Batch, as_batch, bucket_size
from .._map_pressure import relieve
from ..errors import DataError
from ._linkk import drop_points
from ._result import ZHITResult

__all__ = ["zhit"]

_CORRECTIONS = ("exact", "first", "none")
_EXCLUDE = ("ends", "any", None)
_CHUNK = 1024
_MIN_POINTS = 5


def _check_options(correction, smoothing, ref_window, max_rel_residual, exclude,
                   smooth_residuals, significance):
    if correction not in _CORRECTIONS:
        raise DataError(f"correction must be one of {_CORRECTIONS}, got {correction!r}")
    if isinstance(smoothing, bool) or not (np.isscalar(smoothing) and np.isfinite(smoothing)
                                           and 0 <= smoothing <= 3):
        raise DataError(f"smoothing must be a half-width in decades in [0, 3], got {smoothing!r}")
    if isinstance(smooth_residuals, bool) or not (
            np.isscalar(smooth_residuals) and np.isfinite(smooth_residuals)
            and 0 <= smooth_residuals <= 3):
        raise DataError("smooth_residuals must be a half-width in decades in [0, 3], "
                        f"got {smooth_residuals!r}")
    if ref_window is not None:
        rw = np.asarray(ref_window, np.float64)
        if rw.shape != (2,) or not np.all(np.isfinite(rw)) or rw[0] <= 0 or rw[1] <= rw[0]:
            raise DataError(f"ref_window must be (f_low, f_high) in Hz with 0 < f_low < "
                            f"f_high, got {ref_window!r}")
    if not (np.isscalar(max_rel_residual) and np.isfinite(max_rel_residual)
            and max_rel_residual > 0):
        raise DataError(f"max_rel_residual must be a positive number, got {max_rel_residual!r}")
    if not (np.isscalar(significance) and np.isfinite(significance) and significance >= 0):
        raise DataError(f"significance must be a number >= 0, got {significance!r}")
    if exclude not in _EXCLUDE:
        raise DataError(f"exclude must be 'ends', 'any' or None, got {exclude!r}")


def zhit(freq, Z=None, *, mask=None, ref_window=None, correction: str = "exact",
         smoothing: float = 0.0, max_rel_residual: float = 0.02,
         smooth_residuals: float = 0.25, significance: float = 3.0,
         exclude: str | None = "ends") -> ZHITResult:
    r"""Z-HIT test of a batch of spectra: |Z| reconstructed from the phase alone.

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`~fastfit.SpectrumSeries` (then ``Z``
        is omitted)
    Z : (F,) or (B, F) complex, ohm (Z' + jZ'', capacitive Z'' < 0)
    mask : (F,) or (B, F) bool, points to use (default: all; at least 5 per spectrum)
    ref_window : (f_low, f_high) Hz or None -- where the offset C is fitted to ln|Z|.
        Default: the upper half of each spectrum's used log-frequency range (measured
        first in a sweep from high to low frequencies, so least affected by drift).
    correction : "exact" | "first" | "none" -- the local term added to the phase integral
        (see Notes): the whole log-frequency Hilbert kernel (default), its first term
        gamma dphi/dln w with gamma = -pi/6 (Ehm et al. 2000), or nothing
    smoothing : float, decades -- half-width of a local quadratic (tricube-weighted)
        smoother applied to the phase before it is interpolated; 0 (default) interpolates
        the measured phase
    max_rel_residual : float -- pass/fail threshold on the residuals (relative to |Z|)
    smooth_residuals : float, decades -- half-width of the local quadratic smoother applied
        to the residuals before they are compared with ``max_rel_residual`` (averages the
        measurement noise out of the decision, keeps trends such as drift); 0 compares
        the raw residuals
    significance : float -- the tolerance at a point is max(``max_rel_residual``,
        significance x noise x gain): the estimated noise std of ln|Z| times the std of the
        smoothed residual per unit noise there (larger near the ends, where the offset
        and the continuation amplify it); 3 (default) keeps noisy compliant spectra valid
    exclude : "ends" | "any" | None -- which failing points ``mask`` drops: the runs at
        the two ends of the spectrum (up to the first passing point), every failing
        point, or none

    Returns
    -------
    ZHITResult

    Raises
    ------
    ShapeError, DataError
        bad shapes, non-finite data at used points, duplicate frequencies, fewer than 5
        used points, a reference window without a used point, invalid options.

    Notes
    -----
    With :math:`u = \ln\omega` and :math:`\varphi = \arg Z` (rad), the modulus of a
    minimum-phase (passive, causal, KK-compliant) impedance satisfies

    .. math:: \ln|Z(u_0)| = C + \frac{2}{\pi}\int_{u_s}^{u_0}\varphi\,du
              + \frac{1}{\pi}\,\mathrm{PV}\!\int (\coth(u_0-u) - \mathrm{sgn}(u_0-u))
              \,\varphi(u)\,du

    whose last term expands to :math:`-\frac{\pi}{6}\varphi'(u_0) -
    \frac{\pi^3}{360}\varphi'''(u_0) - \dots`; Z-HIT (Ehm et al. 2000, Schiller et al.
    2001) keeps the integral and the first term, :math:`\gamma = -\pi/6`.  fastfit
    integrates the whole kernel by default (its truncation error is ~3 % in |Z| on an
    ideal RC arc) and continues the phase beyond the measured range by an exponential
    relaxation matched to the end slope, or, where a capacitive phase at the
    high-frequency end turns towards 0, by the flank of an arc (:mod:`fastfit.kernels._zhit`).  C is the mean of
    :math:`\ln|Z| - \ln|Z|_{rec}` over the reference window.

    The evaluation window is every used point.  A spectrum is ``valid`` when the residuals,
    smoothed over ``smooth_residuals`` decades, stay within ``max_rel_residual`` (2 %) at
    every used point: measurement noise of up to ~1 % passes, a magnitude drift of a few
    per cent during the sweep (or a mutual-induction artefact at the high-frequency end)
    fails.  The accuracy of the reconstruction itself on KK-compliant spectra is ~0.3 %
    inside the range and at the ends depends on how the spectrum continues (measured in
    tests/test_zhit.py).

    References
    ----------
    W. Ehm, H. Göhr, R. Kaus, B. Röseler, C. A. Schiller, ACH-Models Chem. 137 (2000)
    145-157.  C. A. Schiller, F. Richter, E. Gülzow, N. Wagner, Phys. Chem. Chem. Phys. 3
    (2001) 374-378, doi:10.1039/b007678n.  H. W. Bode, Network Analysis and Feedback
    Amplifier Design (1945), ch. 14.

    Examples
    --------
    >>> import numpy as np, fastfit as ff
    >>> f = np.logspace(5, -1, 61)
    >>> Z = 10 + 100 / (1 + (2j * np.pi * f * 1e-3) ** 0.9)
    >>> r = ff.zhit(f, Z)
    >>> bool(r.valid[0]), float(np.max(np.abs(r.residuals))) < 5e-3
    (True, True)
    """
    _check_options(correction, smoothing, ref_window, max_rel_residual, exclude,
                   smooth_residuals, significance)
    batch = as_batch(freq, Z, mask, min_points=_MIN_POINTS)
    relieve()
    order, n_used = _ascending(batch)
    f_s, Z_s = _take(batch.freq, order), _take(batch.Z, order)
    live = np.arange(batch.n_freq)[None, :] < n_used[:, None]
    ref = _reference(f_s, live, n_used, ref_window)
    absZ, ph_s = np.abs(Z_s), np.angle(Z_s)
    out = _run_kernel(f_s, ph_s, np.log(absZ), live, n_used, ref, correction, smoothing,
                      smooth_residuals, order.ndim == 1, float(max_rel_residual),
                      float(significance))
    modulus_s = np.exp(out["ln_rec"])
    res_s = (absZ - modulus_s) / absZ
    if not live.all():
        modulus_s[~live], res_s[~live], ph_s = np.nan, np.nan, np.where(live, ph_s, np.nan)
    back = np.argsort(order, axis=-1)
    modulus, residuals, decision, tol, phase, ref = (
        _take(a, back) for a in (modulus_s, res_s, out["decision"], out["tolerance"], ph_s,
                                 ref))
    used = batch.mask
    bad = used & ~(np.abs(decision) <= tol)
    keep = used & ~drop_points(batch.freq, bad, used, exclude)
    valid = ~bad.any(axis=1)
    options = dict(ref_window=None if ref_window is None else tuple(map(float, ref_window)),
                   correction=correction, smoothing=float(smoothing),
                   max_rel_residual=float(max_rel_residual),
                   smooth_residuals=float(smooth_residuals), significance=float(significance),
                   exclude=exclude)
    return ZHITResult(modulus=modulus, residuals=residuals, valid=valid, mask=keep,
                      decision=decision, tolerance=tol, noise=out["noise"],
                      phase=phase, reference=ref & used, freq=batch.freq,
                      used=used, options=options)


def _ascending(batch: Batch):
    """(order: used points first in ascending frequency, n_used (B,)); order is (F,) when
    every spectrum has the same grid and mask (one sort for the batch), else (B, F)."""
    n_used = batch.mask.sum(axis=1)
    if batch.shared_freq and bool(np.all(batch.mask == batch.mask[:1])):
        return np.argsort(np.where(batch.mask[0], batch.freq[0], np.inf), kind="stable"), n_used
    key = np.where(batch.mask, batch.freq, np.inf)
    return np.argsort(key, axis=1, kind="stable"), n_used


def _take(a, order):
    """Columns of a (B, F) in ``order`` ((F,) shared or (B, F) per row); a view when the
    order is the identity or the reverse (sweeps in either direction)."""
    if order.ndim == 2:
        return np.take_along_axis(a, order, axis=1)
    n = order.size
    if np.array_equal(order, np.arange(n)):
        return a
    if np.array_equal(order, np.arange(n)[::-1]):
        return a[:, ::-1]
    return a[:, order]


def _reference(f_s, live, n_used, ref_window) -> np.ndarray:
    """(B, F) bool reference points (sorted order); DataError when a spectrum has none."""
    lf = np.log(f_s)
    if ref_window is None:
        lo = lf[:, 0]
        hi = np.take_along_axis(lf, (n_used - 1)[:, None], axis=1)[:, 0]
        ref = live & (lf >= 0.5 * (lo + hi)[:, None])
    else:
        ref = live & (f_s >= ref_window[0]) & (f_s <= ref_window[1])
    empty = np.nonzero(~ref.any(axis=1))[0]
    if empty.size:
        raise DataError(f"spectrum {empty[0]}: no used point inside ref_window {ref_window!r}")
    return ref


@lru_cache(maxsize=8)
def _operators(grids: bytes, shape: tuple, n_live: bytes, smoothing: float,
               smooth_res: float, correction: int):
    """Operators of the grids (raw bytes of a (G, F) float64 array; a few grids are kept:
    repeated calls on the same grid, e.g. one file after another, build them once)."""
    from fastfit.kernels import zhit_operators

    ln10 = np.log(10.0)
    return zhit_operators(np.frombuffer(grids, np.float64).reshape(shape),
                          np.frombuffer(n_live, np.int64), smoothing * ln10,
                          smooth_res * ln10, correction)


def _run_kernel(f_s, ph_s, lm_s, live, n_used, ref, correction, smoothing, smooth_res,
                shared, max_rel, significance) -> dict:
    """The kernel's outputs (``ZHITOut`` fields, numpy, sorted order; phase ``ph_s`` and
    ln|Z| ``lm_s`` given in that order): one operator per
    distinct grid (built in one call), one batched call per grid and chunk.  ``shared``:
    every spectrum has the same grid (no grouping needed)."""
    from fastfit.kernels import ZHIT_CORRECTIONS, zhit_reconstruct

    B, F = f_s.shape
    Fp = -(-F // 8) * 8
    pad = lambda a, v: np.concatenate([a, np.full((a.shape[0], Fp - F), v, a.dtype)],  # noqa
                                      axis=1)

    def grid_rows(rows):
        """ln w of the given rows, padded; dead entries continue the grid upwards (keeps
        rows increasing; ignored by the kernel)."""
        lw = np.log(2 * np.pi * f_s[rows])
        last = np.take_along_axis(lw, (n_used[rows] - 1)[:, None], axis=1)
        return np.where(pad(live[rows], False), pad(lw, 0.0), last + np.arange(1, Fp + 1))

    if shared:
        G, group = 1, np.zeros(B, np.int64)
    else:
        keys = np.where(pad(live, False), grid_rows(np.arange(B)), 0.0)
        grids, group = np.unique(keys, axis=0, return_inverse=True)
        group, G = group.reshape(-1), grids.shape[0]
    first = np.zeros(G, np.int64)
    first[group[::-1]] = np.arange(B)[::-1]                   # a member of every grid
    pick = np.concatenate([first, np.repeat(first[-1:], bucket_size(G, minimum=1) - G)])
    grids_p = np.ascontiguousarray(grid_rows(pick))
    ops = _operators(grids_p.tobytes(), grids_p.shape, np.ascontiguousarray(
        n_used[pick], np.int64).tobytes(), float(smoothing), float(smooth_res),
        ZHIT_CORRECTIONS[correction])
    full = live.all()
    phase = pad(ph_s if full else np.where(live, ph_s, 0.0), 0.0)
    ln_mod = pad(lm_s if full else np.where(live, lm_s, 0.0), 0.0)
    one_ref = bool(np.all(ref == ref[:1]))                   # then passed as one row
    ref_w = pad((ref[:1] if one_ref else ref).astype(np.float64), 0.0)
    names = ("ln_rec", "decision", "tolerance")
    out = {k: np.empty((B, Fp)) for k in names}
    out["noise"] = np.empty(B)
    pending = []          # every chunk is dispatched before any result is read back, so
    for g in range(G):    # the (asynchronous) chunks can run side by side on the cores
        rows = np.arange(B) if G == 1 else np.nonzero(group == g)[0]
        for start in range(0, rows.size, _CHUNK):
            sel = rows[start:start + _CHUNK]
            size = bucket_size(sel.size)
            if G == 1 and size == sel.size:
                part = slice(sel[0], sel[-1] + 1)             # a view, no copy
            else:
                part = np.concatenate([sel, np.repeat(sel[-1:], size - sel.size)])
            pending.append((sel, zhit_reconstruct(ops, g, phase[part], ln_mod[part],
                                                  ref_w if one_ref else ref_w[part], max_rel,
                                                  significance)))
    for sel, r in pending:
        for k in names + ("noise",):
            out[k][sel] = np.asarray(getattr(r, k))[:sel.size]
    return {k: (v if v.ndim == 1 else v[:, :F]) for k, v in out.items()}
