"""fastfit: bulk impedance-spectrum analysis with a JAX-compiled batched core.

>>> import fastfit as ff
>>> series = ff.read("run.mpr")                         # doctest: +SKIP
>>> result = ff.fit(series, ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)"))  # doctest: +SKIP

Public names are imported lazily (``import fastfit`` does not start JAX); importing
anything that computes enables JAX's float64 mode (see :mod:`fastfit.kernels`).
"""
from __future__ import annotations

import importlib

from ._version import __version__  # noqa: F401  (fastfit.__version__)

# public name -> module that defines it
_LAZY = {
    "Circuit": "fastfit.circuit",
    "SpectrumSeries": "fastfit.series",
    "fit": "fastfit.fitting",
    "fit_series": "fastfit.fitting",
    "FitResult": "fastfit.fitting",
    "FitStatus": "fastfit.fitting",
    "kk": "fastfit.validation",
    "KKResult": "fastfit.validation",
    "zhit": "fastfit.validation",
    "ZHITResult": "fastfit.validation",
    "drt": "fastfit.relaxation",
    "DRTResult": "fastfit.relaxation",
    "compare": "fastfit.inference",
    "Comparison": "fastfit.inference",
    "bootstrap": "fastfit.inference",
    "BootstrapResult": "fastfit.inference",
    "profile": "fastfit.inference",
    "ProfileResult": "fastfit.inference",
    "read": "fastfit.io",
    "Store": "fastfit.store",
    "configure": "fastfit._devices",
    "element": "fastfit.elements",
}
_SUBMODULES = {"errors", "analysis", "io", "kernels", "plot", "stream", "store", "distributed",
               "nonstationary", "synthetic", "fitting", "validation", "relaxation", "elements",
               "inference"}

__all__ = sorted(_LAZY) + sorted(_SUBMODULES)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        mod = importlib.import_module(f"fastfit.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'fastfit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
