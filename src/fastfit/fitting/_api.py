"""`fit`: one equivalent circuit fitted to a batch of spectra."""
from __future__ import annotations

from typing import Callable

from ._driver import run
from ._problem import prepare
from ._result import FitResult

__all__ = ["fit"]


def fit(freq, Z=None, circuit=None, *, p0=None, bounds=None, fixed=None, weight="modulus",
        mask=None, starts: int = 2, max_iter: int = 1000, absolute_sigma: bool = False,
        chunk: int | None = None, ftol: float = 1e-10, xtol: float = 1e-10, gtol: float = 1e-12,
        progress: Callable[[int, int], None] | None = None, extra_starts=None) -> FitResult:
    r"""Fit one equivalent circuit to a batch of spectra in one compiled call.

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`SpectrumSeries` (then ``Z`` is omitted)
    Z : (F,) or (B, F) complex, ohm (Z' + jZ'', capacitive Z'' < 0)
    circuit : str or Circuit, e.g. ``"R0-p(R1,CPE1)-p(R2,CPE2)"``
    p0 : optional (P,), (B, P) or {name: value}: an extra starting point (the data-derived
        starts are always tried as well; the best wins)
    bounds : optional (P, 2) or {name: (lo, hi)}; default ``circuit.default_bounds``
    fixed : optional {name: value}, list of names (values from p0) or (P,) bool mask
    weight : "modulus" (sigma = |Z|), "proportional" (sigma_re = |Z'|, sigma_im = |Z''|),
        "unit", or sigma as an array (B, F) (real, or complex sigma_re + j sigma_im)
    mask : (B, F) or (F,) bool, points to use (ragged spectra: padded and masked)
    starts : data-derived starting points per spectrum.  Chain circuits: the best
        ``ceil(starts / 2)`` time-constant tuples of each of the two start scans
        (exponents 0.85 and 1); other circuits: ``max(4 starts, 8)`` data-scaled random
        starts.  The default 2 finds the same optima as 4 on the benchmark and real-data
        checks, faster (benchmarks/README.md, "Tuning history")
    max_iter : LM iteration budget per spectrum
    absolute_sigma : covariance (J^T J)^-1 without rescaling by chi2_red (sigma known)
    chunk : spectra per compiled call; None picks it from the device (1024 per CPU device,
        from free memory on a GPU; see docs/scaling.md)
    ftol, xtol, gtol : convergence on the relative chi2 reduction, the step and the
        projected gradient (:class:`FitStatus` tells which one stopped a spectrum)
    progress : optional callable(done, total) called after each chunk
    extra_starts : optional (B, S, P) physical starting points tried as well

    Returns
    -------
    FitResult

    Notes
    -----
    Minimises :math:`\chi^2 = \sum_f w_{re}^2 (Z'_m - Z')^2 + w_{im}^2 (Z''_m - Z'')^2`
    by box-constrained Levenberg-Marquardt (see :mod:`fastfit.kernels._lm`); positive
    parameters are fitted on a log scale.  For chains of R, L, C and R||CPE / R||C / K /
    ZARC blocks, starting points come from variable projection on a grid of time constants
    (the model is linear in the resistances); otherwise from data-scaled generic starts.
    """
    problem = prepare(freq, Z, circuit, p0=p0, bounds=bounds, fixed=fixed, weight=weight,
                      mask=mask)
    return run(problem, starts=starts, max_iter=max_iter, absolute_sigma=absolute_sigma,
               chunk=chunk, ftol=ftol, xtol=xtol, gtol=gtol, progress=progress,
               extra_starts=extra_starts)
