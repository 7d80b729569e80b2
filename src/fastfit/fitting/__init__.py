"""Equivalent-circuit fitting of batches of spectra.

* :func:`fit` -- one circuit, every spectrum of a batch, no initial guess needed;
* :func:`fit_series` -- a time series: warm starts from neighbours, parameters shared
  across the series;
* :class:`FitResult`, :class:`FitStatus` -- what they return;
* :func:`prepare` -> :class:`FitProblem` -- the validated inputs of the fit kernels;
* :func:`refit_local` -> :class:`LocalFit`, :func:`fit_from` -> :class:`FitResult` -- LM
  from given starting points only (no start search), for many fits next to a known
  optimum (bootstrap resamples, profiles, refits from another circuit's solution).

Private parts: ``_problem`` (validation), ``_starts`` (starting points), ``_driver``
(chunks, devices, assembly), ``_series``, ``_result``, ``_local`` (local refits).
"""
from ._api import fit
from ._driver import DEEP_STARTS  # starts of the second escalation round (stream warm-up)
from ._local import LocalFit, fit_from, refit_local
from ._problem import FitProblem, prepare, weights_for
from ._result import FitResult, FitStatus
from ._series import fit_series, joint_solve

__all__ = ["fit", "fit_series", "FitResult", "FitStatus", "FitProblem", "prepare",
           "weights_for", "refit_local", "LocalFit", "fit_from"]
