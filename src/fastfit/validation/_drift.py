"""`drift`: drift indicators and a nonstationarity flag for a time series of sweeps.

A sweep takes time; if the cell changes while it runs (GEIS during metal dissolution,
relaxation after a current step), every point belongs to a different system state and the
spectrum is neither Kramers-Kronig consistent nor a snapshot of one state.  The flag rests
on a test free of noise assumptions: at each frequency, the change from the previous sweep
is compared with the deviation from the straight line through the two neighbouring
sweeps.  Without drift both are noise (their ratio, normalised, is ~1); with a drift that
is smooth over three sweeps the change is large and the deviation stays at the noise
level.  KK-residual indicators (pseudo chi^2 and its trend, low-frequency residual bias,
residual autocorrelation) are reported alongside.
"""
from __future__ import annotations

from ..errors import ShapeError
from ._indicators import drift_indicators, drift_inputs
from ._linkk import kk
from ._result import RATIO_THRESHOLD, DriftResult

__all__ = ["drift"]


def drift(freq, Z=None, *, mask=None, time=None, time_end=None, groups=None, point_time=None,
          kk_result=None, threshold: float = RATIO_THRESHOLD, **kk_options) -> DriftResult:
    """Drift indicators and nonstationarity flag of a series of swept spectra.

    Parameters
    ----------
    freq : (F,) or (N, F) Hz, or a :class:`~fastfit.SpectrumSeries` (then ``Z`` is omitted;
        its ``time``, ``time_end``, ``points["t"]`` and ``info["series"]`` are used unless
        given here)
    Z : (N, F) complex, ohm; consecutive rows are consecutive sweeps
    mask : optional (N, F) bool
    time, time_end : optional (N,) s, first/last point of each sweep (default: sweep index)
    groups : optional (N,) labels; consecutive equal labels form one series (default for a
        SpectrumSeries: ``info["series"]``, else ``info["source_id"]``); a series also ends
        where the time goes backwards
    point_time : optional (N, F) s, acquisition time of every point
    kk_result : optional :class:`~fastfit.KKResult` of the same spectra (else :func:`fastfit.kk`
        is run with ``kk_options``)
    threshold : float, drift_ratio above which a spectrum is flagged

    Returns
    -------
    DriftResult

    Notes
    -----
    For sweep i with neighbours h < i < j (same series) at one frequency, with times
    t_h, t_i, t_j and lambda = (t_i - t_h) / (t_j - t_h)::

        change_i    = median_f |Z_i - Z_h| / |Z_i|
        curvature_i = median_f |Z_i - (1 - lambda) Z_h - lambda Z_j| / |Z_i|
        drift_ratio = (change_i / sqrt 2) / median_f(|Z_i - Z_lin| / (|Z_i| g)),
        g = sqrt(1 + lambda^2 + (1 - lambda)^2)   (noise gain of the line)

    With independent noise of equal size on every point both numerator and denominator
    estimate the same noise scale (ratio ~1, +-0.15 for ~50 points); a drift that is
    locally linear in time enters the change but cancels in the curvature.  The test needs
    no noise model and no equivalent circuit.
    """
    inputs = drift_inputs(freq, Z, mask=mask, time=time, time_end=time_end, groups=groups,
                          point_time=point_time)
    N = inputs.freq.shape[0]
    if kk_result is None:
        kk_result = kk(inputs.freq, inputs.Z, mask=inputs.mask, **kk_options)
    elif len(kk_result) != N:
        raise ShapeError(f"kk_result has {len(kk_result)} spectra, the data {N}")
    return drift_indicators(inputs, kk_result, threshold)
