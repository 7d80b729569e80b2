"""Equivalent-circuit fitting of batches of spectra.

* :func:`fit` -- one circuit, every spectrum of a batch, no initial guess needed;
* :func:`fit_series` -- a time series: warm starts from neighbours, parameters shared
  across the series;
* :class:`FitResult`, :class:`FitStatus` -- what they return;
* :func:`prepare` -> :class:`FitProblem` -- the validated inputs of the fit kernels.

Private parts: ``_problem`` (validation), ``_starts`` (starting points), ``_driver``
(chunks, devices, assembly), ``_series``, ``_result``.
"""
from ._api import fit
from ._problem import FitProblem, prepare, weights_for
from ._result import FitResult, FitStatus
from ._series import fit_series

__all__ = ["fit", "fit_series", "FitResult", "FitStatus", "FitProblem", "prepare",
           "weights_for"]
