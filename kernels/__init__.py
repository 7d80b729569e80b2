"""fastfit.kernels -- the compiled core: pure JAX functions on arrays.

No I/O, no result objects, no Python loops over spectra.  Every function works on a
batch axis (or is vmapped once at the API edge), in float64/complex128.

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

__all__ = [
    "ELEMENTS",
    "ElementSpec",
    "circuit_impedance",
    "circuit_impedance_jac",
    "eval_tree",
    "n_params_of",
]
