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
        progress: Callable[[int, int], None] | None = None, extra_starts=None,
        escalate: bool = True, relocate: bool = True) -> FitResult:
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
    starts : data-derived starting points per spectrum: the best ``ceil(starts / 2)``
        diverse combinations of each of the two start scans (exponents 0.85 and 1); the
        best two after a few iterations continue.  ``starts=0``: no scan, a local fit
        from ``p0`` / ``extra_starts`` only (warm starts, refits)
    escalate : refit spectra whose result looks wrong (a parameter at a bound or
        vanished, singular, out of iterations, chi2 above 1.25x the attainable estimate)
        from more starts, and those still above the attainable chi2 once more from 32
        starts (``FitResult.escalated``)
    relocate : relocation moves for results the data determine loosely (a parameter with
        a relative standard error above 20 %, or pinned): each top-level term in turn is
        moved to the best candidate shape in each time-constant band, the other terms
        kept in shape and every scale re-solved linearly; the moves run as a tournament
        that keeps a result only where it fits better (docs/design-notes.md)
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
    parameters are fitted on a log scale.  Starting points come from a scan over candidate
    shapes of every top-level term of the circuit (time constants on a grid over the
    measured window, ratios, exponents) whose scales are fitted linearly (variable
    projection, :mod:`fastfit.kernels._scan`), for any circuit.
    """
    problem = prepare(freq, Z, circuit, p0=p0, bounds=bounds, fixed=fixed, weight=weight,
                      mask=mask)
    return run(problem, starts=starts, max_iter=max_iter, absolute_sigma=absolute_sigma,
               chunk=chunk, ftol=ftol, xtol=xtol, gtol=gtol, progress=progress,
               extra_starts=extra_starts, escalate=escalate, relocate=relocate)
