"""Diffusion elements: semi-infinite Warburg, finite-space (open) and finite-length
(short) Warburg, Gerischer.

Hyperbolic functions of x = sqrt(j omega tau) (Re x > 0) are evaluated through
e = expm1(-2x), which is exact for small |x| and cannot overflow for large |x|:
tanh x = -e / (2 + e),  coth x = (2 + e) / (-e),
sech^2 x = 4 (1+e) / (2+e)^2,  csch^2 x = 4 (1+e) / e^2.
"""
from __future__ import annotations

import cmath

import jax.numpy as jnp

from ._spec import ElementSpec

INF = float("inf")
_SQRT_J = complex(cmath.exp(0.25j * cmath.pi))  # sqrt(j), a Python constant (no device op at import)


def warburg(p, omega):
    """Semi-infinite Warburg: Z = sigma (1 - j) / sqrt(omega).  sigma: ohm s^-1/2."""
    (sigma,) = p
    d = (1.0 - 1j) / jnp.sqrt(omega) + jnp.zeros_like(sigma)
    return sigma * d, (d,)


def _x(omega, tau):
    return jnp.sqrt(omega * tau) * _SQRT_J


def warburg_open(p, omega):
    """Finite-space ("open", reflective) Warburg: Z = R coth(x)/x, x = sqrt(j omega tau).

    R: ohm (low-frequency limit diverges like a capacitor C = tau/R), tau: s.
    dZ/dR = Z/R,  dZ/dtau = R/(2 tau) * (-csch^2 x - coth(x)/x).
    """
    R, tau = p
    x = _x(omega, tau)
    e = jnp.expm1(-2.0 * x)
    coth = (2.0 + e) / (-e)
    csch2 = 4.0 * (1.0 + e) / (e * e)
    f = coth / x
    Z = R * f
    dtau = R / (2.0 * tau) * (-csch2 - f)
    return Z, (f, dtau)


def warburg_short(p, omega):
    """Finite-length ("short", transmissive) Warburg: Z = R tanh(x)/x, x = sqrt(j omega tau).

    R: ohm (the DC resistance), tau: s.
    dZ/dR = Z/R,  dZ/dtau = R/(2 tau) * (sech^2 x - tanh(x)/x); for |x| < 1e-3 the
    bracket is taken from its series -2x^2/3 + 8x^4/15 (cancellation).
    """
    R, tau = p
    x = _x(omega, tau)
    e = jnp.expm1(-2.0 * x)
    tanh = -e / (2.0 + e)
    sech2 = 4.0 * (1.0 + e) / ((2.0 + e) * (2.0 + e))
    f = tanh / x
    x2 = x * x
    bracket = jnp.where(jnp.abs(x) < 1e-3, -2.0 * x2 / 3.0 + 8.0 * x2 * x2 / 15.0, sech2 - f)
    Z = R * f
    return Z, (f, R / (2.0 * tau) * bracket)


def gerischer(p, omega):
    """Gerischer: Z = R / sqrt(1 + j omega tau).  R: ohm, tau: s.

    dZ/dR = Z/R,  dZ/dtau = -Z j omega / (2 (1 + j omega tau)).
    """
    R, tau = p
    d = 1.0 + 1j * omega * tau
    f = 1.0 / jnp.sqrt(d)
    Z = R * f
    return Z, (f, -Z * 1j * omega / (2.0 * d))


SPECS = (
    ElementSpec("W", ("",), ("ohm s^-1/2",), (10.0,), ((0.0, INF),), (True,), warburg,
                "Z = sigma (1-j)/sqrt(w)"),
    ElementSpec("Wo", ("R", "tau"), ("ohm", "s"), (10.0, 1.0), ((0.0, INF), (0.0, INF)),
                (True, True), warburg_open, "Z = R coth(sqrt(j w tau))/sqrt(j w tau)"),
    ElementSpec("Ws", ("R", "tau"), ("ohm", "s"), (10.0, 1.0), ((0.0, INF), (0.0, INF)),
                (True, True), warburg_short, "Z = R tanh(sqrt(j w tau))/sqrt(j w tau)"),
    ElementSpec("G", ("R", "tau"), ("ohm", "s"), (10.0, 1e-3), ((0.0, INF), (0.0, INF)),
                (True, True), gerischer, "Z = R/sqrt(1 + j w tau)"),
)
