"""fastfit.kernels -- the compiled core: pure JAX functions on arrays.

No I/O, no result objects, no Python loops over spectra.  Every function works on a
batch axis (or is vmapped once at the API edge), in float64/complex128.

* elements and circuits: :data:`ELEMENTS`, :func:`circuit_impedance`,
  :func:`circuit_impedance_jac`, :func:`eval_tree`
* batched Levenberg-Marquardt: :func:`lm_init_state`, :func:`lm_iterate`,
  :func:`lm_covariance` (``_lm``), start scans over candidate shapes :func:`scan_combos`
  (``_scan``), relocation moves of fitted terms :func:`relocate_terms`,
  :func:`relocation_starts`, :func:`pair_starts` (``_reloc``), the staged pipeline
  :func:`fit_pipeline` and its LM stages :func:`fresh_state`, :func:`lm_continue`,
  :func:`lm_finalize` (``_fit``: the host-side report :func:`lm_report` and the fitted
  spectra :func:`model_impedance`), shared-parameter series :func:`joint_lm` (``_joint``)
* lin-KK: :func:`lin_kk` (``_kk``); Z-HIT: :func:`zhit_operators`,
  :func:`zhit_reconstruct` (``_zhit``)
* DRT: system matrices :func:`drt_matrices` (``_drt``), batched non-negative QP
  :func:`nnls_qp` (``_nnls``), lambda selection :func:`ridge_scores`, :func:`reim_scores`
  (``_drt_lam``)

Every kernel returns arrays or a NamedTuple of arrays; status codes are integers whose
names are in ``LM_STATUS``, ``KK_STATUS`` and ``NNLS_STATUS`` (the API translates them to
its status enumerations).  The lin-KK, Z-HIT and DRT kernels are imported on first use.

Importing this package turns on JAX's ``jax_enable_x64`` flag (process-wide): fits need
float64, and JAX would otherwise silently compute in float32.  Nothing else in JAX's
configuration is touched; arrays you create explicitly as float32 stay float32, and the
kernels convert their inputs to float64 at the edge.
"""
import jax

jax.config.update("jax_enable_x64", True)

from .elements import ELEMENTS, ElementSpec  # noqa: E402
from ._circuit import (  # noqa: E402
    circuit_impedance,
    circuit_impedance_jac,
    eval_tree,
    n_params_of,
)
from ._lm import LMState, lm_covariance, lm_init_state, lm_iterate  # noqa: E402
from ._scan import ScanOut, ScanTables, scan_combos, scan_starts, term_shapes  # noqa: E402
from ._reloc import (RelocOut, RelocTables, pair_starts, relocate_terms,  # noqa: E402
                     relocation_starts, term_impedances)
from ._fit import FitConfig, FitOut, to_internal, to_physical  # noqa: E402
from ._pipeline import fit_pipeline  # noqa: E402
# the stable LM stages, for callers that bring their own starting points (fitting._local)
from ._fit import fresh_state, lm_continue, lm_finalize, lm_report, model_impedance  # noqa: E402
from ._joint import JointOut, joint_lm  # noqa: E402
from ._attain import kk_chi2, kk_chi2_shared  # noqa: E402
from . import _lm  # noqa: E402

# status codes of the LM kernels (lm_iterate, fit_pipeline), by name; the API translates
# them to fastfit.FitStatus in one table
LM_STATUS = {"RUNNING": _lm.RUNNING, "FTOL": _lm.FTOL, "XTOL": _lm.XTOL, "GTOL": _lm.GTOL,
             "NONFINITE": _lm.NONFINITE}

# lin-KK and DRT kernels: public name -> private module, imported on first use
_LAZY = {
    "lin_kk": "_kk", "LinKKOut": "_kk", "KK_MODES": "_kk", "KK_STATUS": "_kk",
    "zhit_operators": "_zhit", "zhit_reconstruct": "_zhit", "ZHITOperator": "_zhit",
    "ZHITOut": "_zhit", "ZHIT_CORRECTIONS": "_zhit",
    "drt_matrices": "_drt", "DRTMatrices": "_drt", "gaussian_eval": "_drt",
    "pwl_eval": "_drt", "toeplitz": "_drt",
    "nnls_qp": "_nnls", "NNLSOut": "_nnls", "NNLS_STATUS": "_nnls", "MAX_SOLVES": "_nnls",
    "standard_form": "_drt_lam", "StandardForm": "_drt_lam", "gcv_scores": "_drt_lam",
    "ridge_scores": "_drt_lam", "reim_scores": "_drt_lam",
}

__all__ = [
    "ELEMENTS", "ElementSpec", "circuit_impedance", "circuit_impedance_jac", "eval_tree",
    "n_params_of", "LMState", "lm_covariance", "lm_init_state", "lm_iterate", "ScanOut",
    "ScanTables", "scan_combos", "scan_starts", "term_shapes", "RelocOut", "RelocTables",
    "relocate_terms", "relocation_starts", "pair_starts", "term_impedances",
    "FitConfig", "FitOut", "fit_pipeline", "to_internal", "to_physical", "fresh_state",
    "lm_continue", "lm_finalize", "lm_report", "model_impedance", "JointOut",
    "joint_lm", "LM_STATUS", "kk_chi2", "kk_chi2_shared",
] + sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
