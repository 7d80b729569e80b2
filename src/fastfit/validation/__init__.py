"""Validation of spectra: are they Kramers-Kronig consistent, is the cell stationary?

* :func:`kk` -- batched linear Kramers-Kronig test (lin-KK) with point exclusion ->
  :class:`KKResult` (:class:`KKStatus` per spectrum);
* :func:`zhit` -- batched Z-HIT: |Z| reconstructed from the phase -> :class:`ZHITResult`;
* :func:`drift` -- drift indicators and a nonstationarity flag for a time series of
  sweeps -> :class:`DriftResult`;
* :func:`instantaneous` -- time-interpolated spectra of a swept series ("4-D analysis");
* :func:`point_times` -- acquisition time of every point.

Private parts: ``_linkk`` (the lin-KK driver), ``_zhit`` (Z-HIT), ``_indicators`` and
``_drift`` (drift), ``_instantaneous``, ``_timing`` (series and point times), ``_result``.
"""
from ._drift import drift
from ._instantaneous import instantaneous
from ._linkk import kk
from ._result import DriftResult, KKResult, KKStatus, ZHITResult
from ._timing import point_times
from ._zhit import zhit

__all__ = ["kk", "KKResult", "KKStatus", "zhit", "ZHITResult", "drift", "DriftResult",
           "instantaneous", "point_times"]
