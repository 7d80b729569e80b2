"""Diffusion elements: semi-infinite Warburg, finite-space (open) and finite-length
(short) Warburg, their anomalous-diffusion forms with a free exponent, Gerischer and
finite-length Gerischer.

Hyperbolic functions of an argument x with Re x > 0 are evaluated through
e = expm1(-2x), which is exact for small |x| and cannot overflow for large |x|:
tanh x = -e / (2 + e),  coth x = (2 + e) / (-e),
sech^2 x = 4 (1+e) / (2+e)^2,  csch^2 x = 4 (1+e) / e^2.
"""
from __future__ import annotations

import cmath

import jax.numpy as jnp

from ._spec import HALF_PI, ElementSpec, cis_power, coth_csch2, poly_even, recip, times_real

INF = float("inf")
_SQRT_J = complex(cmath.exp(0.25j * cmath.pi))  # sqrt(j), a Python constant (no device op at import)

# sech^2 u - tanh(u)/u = -2u^2/3 + 8u^4/15 - 34u^6/105 + 496u^8/2835 - 2764u^10/31185 + ...
# (Taylor series, radius pi/2).  Used for |u| < 0.05, where the closed form loses up to
# 1/|u|^2 of its digits to cancellation; the first omitted term is < 1e-14 of the sum there.
_TANH_BRACKET = (0.0, -2.0 / 3.0, 8.0 / 15.0, -34.0 / 105.0, 496.0 / 2835.0, -2764.0 / 31185.0)
_TANH_SERIES_BELOW = 0.05


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
    r2 = recip(2.0 + e)
    tanh = -e * r2
    sech2 = 4.0 * (1.0 + e) * (r2 * r2)
    f = tanh * recip(x)
    x2 = x * x
    bracket = jnp.where(jnp.abs(x) < 1e-3, -2.0 * x2 / 3.0 + 8.0 * x2 * x2 / 15.0, sech2 - f)
    Z = R * f
    return Z, (f, R / (2.0 * tau) * bracket)


def warburg_open_anomalous(p, omega):
    """Open (reflective) Warburg with a free exponent: Z = R coth(u)/u, u = (j omega tau)^n.

    R: ohm, tau: s, n: 1 (0 < n < 1; n = 1/2 is ``Wo``).  Anomalous (non-Fickian)
    diffusion in a layer with a blocking back boundary; ZView's "Wo" with exponent P.
    With g = coth(u)/u and S = csch^2 u + g (so that u dg/du = -S) and
    L = ln(omega tau) + j pi/2:
    dZ/dR = g,  dZ/dtau = -R n S / tau,  dZ/dn = -R S L.
    """
    R, tau, n = p
    lg = jnp.log(omega * tau)
    u = cis_power(lg, n)
    coth, csch2 = coth_csch2(u)
    g = coth * recip(u)
    RS = R * (csch2 + g)
    return R * g, (g, times_real(RS, -n / tau), -RS * (lg + 1j * HALF_PI))


def warburg_short_anomalous(p, omega):
    """Short (transmissive) Warburg with a free exponent: Z = R tanh(u)/u, u = (j omega tau)^n.

    R: ohm (the DC resistance), tau: s, n: 1 (0 < n < 1; n = 1/2 is ``Ws``).  ZView's
    "Ws" with exponent P; Boukamp's fractal finite-length Warburg.  With h = tanh(u)/u,
    D = sech^2 u - h (= u dh/du; its series near u = 0, where the closed form cancels) and
    L = ln(omega tau) + j pi/2:
    dZ/dR = h,  dZ/dtau = R n D / tau,  dZ/dn = R D L.
    """
    R, tau, n = p
    lg = jnp.log(omega * tau)
    u = cis_power(lg, n)
    e = jnp.expm1(-2.0 * u)
    r2 = recip(2.0 + e)
    h = -e * r2 * recip(u)
    sech2 = 4.0 * (1.0 + e) * (r2 * r2)
    D = jnp.where(jnp.abs(u) < _TANH_SERIES_BELOW, poly_even(u * u, _TANH_BRACKET), sech2 - h)
    RD = R * D
    return R * h, (h, times_real(RD, n / tau), RD * (lg + 1j * HALF_PI))


def gerischer(p, omega):
    """Gerischer: Z = R / sqrt(1 + j omega tau).  R: ohm, tau: s.

    dZ/dR = Z/R,  dZ/dtau = -Z j omega / (2 (1 + j omega tau)).
    """
    R, tau = p
    d = 1.0 + 1j * omega * tau
    f = recip(jnp.sqrt(d))
    Z = R * f
    return Z, (f, -Z * (0.5j * omega) * recip(d))


def gerischer_finite(p, omega):
    """Finite-length Gerischer: Z = R / (x tanh(phi x)), x = sqrt(1 + j omega tau).

    R: ohm, tau: s, phi: 1 (> 0; phi -> infinity is ``G``, small phi an R/phi || C
    arc).  impedance.py's ``Gs`` (same parameters, same order).  With c = coth(phi x)
    and d = 1 + j omega tau = x^2:
    dZ/dR = c/x,  dZ/dtau = -R (phi csch^2(phi x) + c/x) j omega / (2 d),
    dZ/dphi = -R csch^2(phi x).
    """
    R, tau, phi = p
    d = 1.0 + 1j * omega * tau
    x = jnp.sqrt(d)
    coth, csch2 = coth_csch2(phi * x)
    f = coth * recip(x)
    return R * f, (f, -R * (phi * csch2 + f) * (0.5j * omega) * recip(d), -R * csch2)


_WARBURG_REF = ("C. Ho, I. D. Raistrick, R. A. Huggins, J. Electrochem. Soc. 127 (1980) 343; "
                "E. Barsoukov, J. R. Macdonald (eds.), Impedance Spectroscopy, 2nd ed., "
                "Wiley 2005, doi:10.1002/0471716243")
_ANOMALOUS_REF = ("J. Bisquert, A. Compte, J. Electroanal. Chem. 499 (2001) 112, "
                  "doi:10.1016/S0022-0728(00)00497-6")

SPECS = (
    ElementSpec("W", ("",), ("ohm s^-1/2",), (10.0,), ((0.0, INF),), (True,), warburg,
                "Z = sigma (1-j)/sqrt(w)", "semi-infinite Warburg",
                "E. Warburg, Ann. Phys. 303 (1899) 493"),
    ElementSpec("Wo", ("R", "tau"), ("ohm", "s"), (10.0, 1.0), ((0.0, INF), (0.0, INF)),
                (True, True), warburg_open, "Z = R coth(sqrt(j w tau))/sqrt(j w tau)",
                "finite-space (open, reflective) Warburg", _WARBURG_REF),
    ElementSpec("Ws", ("R", "tau"), ("ohm", "s"), (10.0, 1.0), ((0.0, INF), (0.0, INF)),
                (True, True), warburg_short, "Z = R tanh(sqrt(j w tau))/sqrt(j w tau)",
                "finite-length (short, transmissive) Warburg", _WARBURG_REF),
    ElementSpec("Woa", ("R", "tau", "n"), ("ohm", "s", "1"), (10.0, 1.0, 0.5),
                ((0.0, INF), (0.0, INF), (0.0, 1.0)), (True, True, False),
                warburg_open_anomalous, "Z = R coth((j w tau)^n)/(j w tau)^n",
                "open Warburg, anomalous diffusion (free exponent)", _ANOMALOUS_REF),
    ElementSpec("Wsa", ("R", "tau", "n"), ("ohm", "s", "1"), (10.0, 1.0, 0.5),
                ((0.0, INF), (0.0, INF), (0.0, 1.0)), (True, True, False),
                warburg_short_anomalous, "Z = R tanh((j w tau)^n)/(j w tau)^n",
                "short Warburg, anomalous diffusion (free exponent)",
                _ANOMALOUS_REF + "; B. A. Boukamp, Electrochim. Acta 252 (2017) 154"),
    ElementSpec("G", ("R", "tau"), ("ohm", "s"), (10.0, 1e-3), ((0.0, INF), (0.0, INF)),
                (True, True), gerischer, "Z = R/sqrt(1 + j w tau)", "Gerischer",
                "Y. Lu, C. Kreller, S. B. Adler, J. Electrochem. Soc. 156 (2009) B513, "
                "doi:10.1149/1.3079337"),
    ElementSpec("Gs", ("R", "tau", "phi"), ("ohm", "s", "1"), (10.0, 1e-3, 1.0),
                ((0.0, INF), (0.0, INF), (0.0, INF)), (True, True, True), gerischer_finite,
                "Z = R/(sqrt(1 + j w tau) tanh(phi sqrt(1 + j w tau)))",
                "finite-length Gerischer",
                "R. D. Green, C. C. Liu, S. B. Adler, Solid State Ionics 179 (2008) 647, "
                "doi:10.1016/j.ssi.2008.04.024"),
)
