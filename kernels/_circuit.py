"""Circuit evaluator: impedance and analytic Jacobian of a static circuit tree.

A circuit tree is a hashable nested tuple (built by ``fastfit.Circuit`` from a string):

* ``("E", symbol, first)`` -- element ``symbol`` whose parameters start at index ``first``;
  ``symbol`` is a key of :data:`ELEMENTS` or, for an element defined outside the library
  (``fastfit.element``), its :class:`ElementSpec` itself: the tree then carries the
  definition, so compiled programs (keyed on the static tree) can never outlive it
* ``("S", (child, ...))`` -- children in series:   Z = sum Z_i,   dZ = dZ_i
* ``("P", (child, ...))`` -- children in parallel: Z = 1 / sum(1/Z_i),
  dZ = (Z / Z_i)^2 dZ_i   for a parameter of child i

so derivatives compose exactly through any nesting and no autodiff is needed.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .elements import ELEMENTS, ElementSpec
from .elements._spec import recip

__all__ = ["eval_tree", "circuit_impedance", "circuit_impedance_jac", "n_params_of", "spec_of"]


def spec_of(symbol) -> ElementSpec:
    """The :class:`ElementSpec` of a tree leaf's symbol (a library key or a spec)."""
    return symbol if isinstance(symbol, ElementSpec) else ELEMENTS[symbol]


def n_params_of(tree) -> int:
    """Number of parameters of a circuit tree."""
    kind = tree[0]
    if kind == "E":
        return len(spec_of(tree[1]).names)
    return sum(n_params_of(c) for c in tree[1])


def eval_tree(tree, p, omega, want_jac: bool = True):
    """Evaluate a circuit tree.

    Parameters
    ----------
    tree : nested tuple (static)
    p : sequence of P arrays, each broadcastable against ``omega``
    omega : array, rad/s
    want_jac : also return derivatives

    Returns
    -------
    Z : complex array (broadcast shape)
    dZ : dict {parameter index: complex array} (empty when ``want_jac`` is False)
    """
    kind = tree[0]
    if kind == "E":
        spec = spec_of(tree[1])
        first = tree[2]
        k = len(spec.names)
        Z, dZ = spec.fn(tuple(p[first:first + k]), omega)
        return Z, ({first + i: d for i, d in enumerate(dZ)} if want_jac else {})
    parts = [eval_tree(c, p, omega, want_jac) for c in tree[1]]
    if kind == "S":
        Z = parts[0][0]
        for z, _ in parts[1:]:
            Z = Z + z
        dZ = {}
        for _, d in parts:
            dZ.update(d)
        return Z, dZ
    # parallel
    inv = recip if want_jac else _div
    Y = [inv(z) for z, _ in parts]
    Ysum = Y[0]
    for y in Y[1:]:
        Ysum = Ysum + y
    Z = inv(Ysum)
    dZ = {}
    if want_jac:
        for (z, d), y in zip(parts, Y):
            s = Z * y
            s = s * s
            for key, v in d.items():
                dZ[key] = s * v
    return Z, dZ


def _div(z):
    return 1.0 / z


def _split(params, P):
    return [params[..., k][..., None] for k in range(P)]


@partial(jax.jit, static_argnums=0)
def circuit_impedance(tree, params, freq):
    """Impedance of a circuit for a batch of parameter vectors.

    Parameters
    ----------
    tree : static circuit tree
    params : (..., P) float64
    freq : (F,) or (..., F) float64, Hz

    Returns
    -------
    Z : (..., F) complex128, ohm
    """
    P = n_params_of(tree)
    omega = 2.0 * jnp.pi * jnp.asarray(freq, jnp.float64)
    Z, _ = eval_tree(tree, _split(jnp.asarray(params, jnp.float64), P), omega, False)
    shape = jnp.broadcast_shapes(params.shape[:-1] + (1,), omega.shape)
    return jnp.broadcast_to(Z, shape)


@partial(jax.jit, static_argnums=0)
def circuit_impedance_jac(tree, params, freq):
    """Impedance and analytic Jacobian.

    Returns
    -------
    Z : (..., F) complex128
    J : (..., F, P) complex128, J[..., f, k] = dZ(f)/dp_k
    """
    P = n_params_of(tree)
    omega = 2.0 * jnp.pi * jnp.asarray(freq, jnp.float64)
    Z, dZ = eval_tree(tree, _split(jnp.asarray(params, jnp.float64), P), omega, True)
    shape = jnp.broadcast_shapes(params.shape[:-1] + (1,), omega.shape)
    Z = jnp.broadcast_to(Z, shape)
    J = jnp.stack([jnp.broadcast_to(dZ[k], shape) for k in range(P)], axis=-1)
    return Z, J
