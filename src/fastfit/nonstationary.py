"""Nonstationarity of swept impedance series (public alias of part of :mod:`fastfit.validation`).

* :func:`drift` -- per-spectrum drift indicators and a ``nonstationary`` flag;
* :func:`instantaneous` -- time-interpolated ("4-D analysis") spectra;
* :func:`point_times` -- acquisition time of every point;
* :class:`DriftResult`.
"""
from .validation import DriftResult, drift, instantaneous, point_times

__all__ = ["DriftResult", "drift", "instantaneous", "point_times"]
