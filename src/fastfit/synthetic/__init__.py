"""Seeded synthetic spectra for tests, examples and benchmarks.

One generator package so that every test and benchmark draws from the same, documented
distributions (one module per topic).  Nothing here is used by the fitting code itself.
"""
from ._basic import *  # noqa: F401,F403
from ._basic import __all__ as _a_basic
from ._drift import *  # noqa: F401,F403
from ._drift import __all__ as _a_drift
from ._drt import *  # noqa: F401,F403
from ._drt import __all__ as _a_drt
from ._elements import *  # noqa: F401,F403
from ._elements import __all__ as _a_elements
from ._inference import *  # noqa: F401,F403
from ._inference import __all__ as _a_inference
from ._reference import *  # noqa: F401,F403
from ._reference import __all__ as _a_reference
from ._store import *  # noqa: F401,F403
from ._store import __all__ as _a_store

__all__ = [*_a_basic, *_a_reference, *_a_drift, *_a_drt, *_a_elements, *_a_store,
           *_a_inference]
