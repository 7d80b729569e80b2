"""fastfit.kernels -- the compiled core: pure JAX functions on arrays.

No I/O, no result objects, no Python loops over spectra.  Every function works on a
batch axis (or is vmapped once at the API edge), in float64/complex128.

* elements and circuits: :data:`ELEMENTS`, :func:`circuit_impedance`,
  :func:`circuit_impedance_jac`, :func:`eval_tree`
* batched Levenberg-Marquardt: :func:`lm_init_state`, :func:`lm_iterate`,
  :func:`lm_covariance` (``_lm``), variable-projection starts :func:`varpro_starts`,
  the staged pipeline :func:`fit_pipeline` (``_fit``), shared-parameter series
  :func:`joint_lm` (``_joint``)
* lin-KK: :func:`lin_kk` (``_kk``)
* DRT: kernel matrices (``_drt``), batched non-negative QP :func:`nnls_qp` (``_nnls``),
  lambda selection :func:`gcv_scores` (``_drt_lam``)

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
from ._varpro import varpro_starts  # noqa: E402
from ._fit import FitConfig, fit_pipeline  # noqa: E402
from ._joint import joint_lm  # noqa: E402

__all__ = [
    "ELEMENTS", "ElementSpec", "circuit_impedance", "circuit_impedance_jac", "eval_tree",
    "n_params_of", "LMState", "lm_covariance", "lm_init_state", "lm_iterate", "varpro_starts",
    "FitConfig", "fit_pipeline", "joint_lm",
]


def __getattr__(name):  # lin-KK and DRT kernels, imported on first use
    lazy = {"lin_kk": "_kk", "nnls_qp": "_nnls", "gcv_scores": "_drt_lam"}
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{lazy[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
