"""Which circuit, and how sure: model comparison and parameter uncertainty for batches.

* :func:`compare` -> :class:`Comparison` -- several candidate circuits fitted to every
  spectrum, ranked per spectrum by BIC/AIC/AICc, with weights and F-tests of nested pairs;
* :func:`bootstrap` -> :class:`BootstrapResult` -- residual or wild bootstrap of a fit,
  all resamples refitted in compiled batches from the optimum (:func:`resample`: the
  data of one resample);
* :func:`profile` -> :class:`ProfileResult` -- profile-likelihood interval of one
  parameter per spectrum;
* :func:`is_nested`, :func:`nested_pairs`, :func:`information_criteria`,
  :func:`residual_correlation` -- the pieces.

Private parts: ``_compare``, ``_criteria``, ``_refits`` (refits from another candidate's
optimum), ``_nesting``, ``_bootstrap``, ``_data``, ``_profile``, ``_stats`` (F
distribution and quantiles in numpy).  Refits use the local LM path of
:func:`fastfit.fitting.refit_local` (no start search).
"""
from ._bootstrap import KINDS, MULTIPLIERS, BootstrapResult, bootstrap, leverages, resample
from ._compare import Comparison, compare
from ._criteria import CRITERIA, information_criteria
from ._nesting import is_nested, nested_pairs
from ._profile import ProfileResult, profile
from ._refits import residual_correlation

__all__ = ["compare", "Comparison", "CRITERIA", "information_criteria", "is_nested",
           "nested_pairs", "bootstrap", "BootstrapResult", "KINDS", "MULTIPLIERS", "leverages",
           "resample", "profile", "ProfileResult", "residual_correlation"]
