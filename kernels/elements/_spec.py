"""Declarative element records.

An element is a pure function ``fn(p, omega) -> (Z, dZ)`` where ``p`` is a tuple of
parameter arrays (each broadcastable against ``omega``, rad/s) and ``dZ`` is a tuple of
the analytic partial derivatives dZ/dp_k in the same order, all complex128.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

HALF_PI = 0.5 * jnp.pi


class ElementSpec(NamedTuple):
    """Static description of one circuit element type.

    symbol : type letters used in circuit strings ("CPE")
    names : parameter suffixes in order (("Q", "n")); a one-parameter element uses
        the element name alone ("R0")
    units : unit of each parameter
    defaults : a typical starting value of each parameter
    bounds : default (lower, upper) bound of each parameter
    log_scale : True where the parameter is positive and fitted on a log scale
    fn : ``(p, omega) -> (Z, dZ)``
    doc : one-line formula
    title : what the element is, in a few words ("finite-length Gerischer")
    reference : literature source of the formula, with DOI where there is one
    """

    symbol: str
    names: tuple
    units: tuple
    defaults: tuple
    bounds: tuple
    log_scale: tuple
    fn: Callable
    doc: str
    title: str = ""
    reference: str = ""


def j_omega_log(omega, scale=1.0):
    """ln(j*omega*scale) = ln(omega*scale) + j*pi/2 (omega*scale > 0)."""
    return jnp.log(omega * scale) + 1j * HALF_PI


def cis_power(log_mag, n, scale=None):
    """exp(n * (log_mag + j*pi/2)) computed as modulus and phase (stable), times a real
    ``scale`` where given (per spectrum, like n)."""
    ph = n * HALF_PI
    c, s = jnp.cos(ph), jnp.sin(ph)
    if scale is not None:
        c, s = c * scale, s * scale
    # cos/sin of a per-spectrum exponent: computed once per spectrum, not once per
    # frequency (XLA:CPU would otherwise fuse them into the per-point loop).
    c, s = jax.lax.optimization_barrier((c, s))
    mod = jnp.exp(n * log_mag)
    return real_complex(mod * c, mod * s)


def real_complex(re, im):
    """re + j im from real arrays (broadcast together), without the complex product
    that ``re + 1j * im`` costs."""
    re, im = jnp.broadcast_arrays(re, im)
    return jax.lax.complex(re, im)


def recip(z):
    """1/z = conj(z) / |z|^2 with one real division (the fitting path: elements, and the
    parallel branches of ``kernels._circuit.eval_tree``).

    XLA's complex division takes the scaled (Smith) route, and inside the fused LM
    program it also keeps the Jacobian loop from vectorising: together with the one-pass
    normal equations (``_lm._normal_equations``) this form made an LM trip of a
    7-parameter fit ~1.6x cheaper in the parallel branches; in the elements (2026-12-05)
    an LM trip per 1,024 spectra went 3.20 -> 2.10 ms with a Gerischer, 3.35 -> 2.77 with
    Woa, 3.06 -> 2.65 with Ws (the open Warburg, 5 % slower with it, keeps its
    divisions).  It differs from 1/z only where |z|^2 over- or underflows (|z|
    beyond 1e+-154 ohm or siemens), which an element meets only with a parameter near
    its bound: there the trial point evaluates non-finite and the LM step is rejected, as
    for any other overflow.  Impedance evaluation for users (``want_jac=False``) keeps
    the exact complex division in the parallel branches."""
    if not jnp.iscomplexobj(z):
        return 1.0 / z
    d = 1.0 / (z.real * z.real + z.imag * z.imag)
    return jax.lax.complex(z.real * d, -z.imag * d)


def times_real(z, a):
    """z * a for real a as two real products: ``z * a`` and ``z / a`` promote a to
    complex, and XLA:CPU's complex division costs several times a product (the
    CPE's ``/ Q`` was a fifth of an LM iteration on the seed circuit)."""
    return real_complex(z.real * a, z.imag * a)


def coth_csch2(x):
    """coth x and csch^2 x for Re x >= 0, through e = expm1(-2x).

    coth x = (2 + e)/(-e) and csch^2 x = 4 (1 + e)/e^2: exact for small |x| (no 1 - 1),
    and no overflow for large |x| (e -> -1, so coth -> 1 and csch^2 -> 0).
    """
    e = jnp.expm1(-2.0 * x)
    r = recip(e)
    return -(2.0 + e) * r, 4.0 * (1.0 + e) * (r * r)


def poly_even(y2, coeffs):
    """sum_k coeffs[k] y^(2k) by Horner's rule in y2 = y^2."""
    acc = coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = c + y2 * acc
    return acc
