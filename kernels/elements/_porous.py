"""Porous-electrode (transmission-line) elements.

All three are finite transmission lines with a blocking (reflective) far end: an ionic
rail of total resistance R_ion, an interfacial element of total impedance Z_int and
Z = sqrt(R_ion Z_int) coth(sqrt(R_ion / Z_int)) (de Levie 1963; Bisquert 2000).  Writing
y = sqrt(R_ion / Z_int) (Re y > 0), sqrt(R_ion Z_int) = R_ion / y and

    Z = R_ion g(y),   g(y) = coth(y) / y,   y dg/dy = -(csch^2 y + g) = -S,

so every derivative is R_ion S times d ln y / dp, except dZ/dR_ion = (g - csch^2 y)/2,
which cancels for small |y| (both terms ~ 1/y^2) and is taken from its series there.
The hyperbolics come from e = expm1(-2y) (``coth_csch2``): exact for small |y|, no
overflow for large |y|.
"""
from __future__ import annotations

import jax.numpy as jnp

from ._spec import HALF_PI, ElementSpec, cis_power, coth_csch2, poly_even, recip, times_real

INF = float("inf")

# coth(y)/y - csch^2 y = 2/3 - 4y^2/45 + 4y^4/315 - 8y^6/4725 + 4y^8/18711
#                        - 5528y^10/212837625 + ...      (Taylor series, radius pi)
# used for |y| < 0.2: the first omitted term is < 1e-14 of the sum there, and above it
# the closed form loses at most a factor 40 to cancellation.
_COTH_BRACKET = (2.0 / 3.0, -4.0 / 45.0, 4.0 / 315.0, -8.0 / 4725.0, 4.0 / 18711.0,
                 -5528.0 / 212837625.0)
_COTH_SERIES_BELOW = 0.2


def _line(y):
    """g = coth(y)/y, S = csch^2 y + g and (g - csch^2 y)/2 for Re y > 0."""
    coth, csch2 = coth_csch2(y)
    g = coth * recip(y)
    half_diff = 0.5 * jnp.where(jnp.abs(y) < _COTH_SERIES_BELOW,
                                poly_even(y * y, _COTH_BRACKET), g - csch2)
    return g, csch2 + g, half_diff


def tlm_cpe(p, omega):
    """Transmission line with a CPE interface (impedance.py's ``TLMQ``):
    Z = sqrt(R_ion Z_s) coth(sqrt(R_ion / Z_s)),  Z_s = 1/(Q (j omega)^n).

    Rion: ohm (ionic resistance of the pore electrolyte), Q: F s^(n-1) (interfacial CPE
    of the whole electrode), n: 1 (0 < n <= 1).  Same parameters and order as
    impedance.py (Rion, Qs, gamma).  y = sqrt(Rion Q) (j omega)^(n/2), L = ln omega + j pi/2:
    dZ/dRion = (g - csch^2 y)/2,  dZ/dQ = -Rion S/(2 Q),  dZ/dn = -Rion S L/2.
    Limits: n = 1 is an ideal blocking pore, ``Wo`` with R = Rion and tau = Rion Q; at
    low frequency Z -> Rion/3 + Z_s.
    """
    Rion, Q, n = p
    lw = jnp.log(omega)
    y = jnp.sqrt(Rion * Q) * cis_power(lw, 0.5 * n)
    g, S, half_diff = _line(y)
    RS = Rion * S
    return Rion * g, (half_diff, times_real(RS, -0.5 / Q), -0.5 * RS * (lw + 1j * HALF_PI))


def tlm_rq(p, omega):
    """Transmission line with an R_ct || CPE interface (Bisquert's finite TLM):
    Z = sqrt(R_ion Z_int) coth(sqrt(R_ion / Z_int)),  Z_int = R_ct / (1 + R_ct Q (j omega)^n).

    Rion: ohm (ionic rail), Rct: ohm (charge-transfer resistance of the whole interface),
    Q: F s^(n-1) (interfacial CPE), n: 1 (0 < n <= 1).  u = Rct Q (j omega)^n,
    y^2 = (Rion/Rct)(1 + u), L = ln omega + j pi/2, k = Rion S / 2:
    dZ/dRion = (g - csch^2 y)/2,  dZ/dRct = k/(Rct (1+u)),  dZ/dQ = -k u/(Q (1+u)),
    dZ/dn = -k u L/(1+u).
    Limits: Rct -> infinity is ``TLMQ``; DC resistance sqrt(Rion Rct) coth(sqrt(Rion/Rct));
    Rion -> 0 gives Z_int + Rion/3.
    """
    Rion, Rct, Q, n = p
    lw = jnp.log(omega)
    u = (Rct * Q) * cis_power(lw, n)
    w = 1.0 + u
    y = jnp.sqrt(Rion / Rct) * jnp.sqrt(w)
    g, S, half_diff = _line(y)
    k = 0.5 * Rion * S
    ku = k * u / w
    return Rion * g, (half_diff, k / (Rct * w), times_real(ku, -1.0 / Q),
                      -ku * (lw + 1j * HALF_PI))


def paasch(p, omega):
    """Macro-homogeneous porous electrode of Paasch, Micka and Gersdorf (impedance.py's ``T``):
    Z = A coth(beta)/beta + B / (beta sinh(beta)),  beta = sqrt(a + j omega b).

    A: ohm, B: ohm (impedance.py labels them ohm m^2: area-specific impedances),
    a: 1, b: s -- impedance.py's order (A, B, a, b).  In the paper A = d (rho1^2 + rho2^2)
    / (rho1 + rho2), B = 2 d rho1 rho2 / (rho1 + rho2), a = k d^2/K, b = d^2/K.
    csch(beta) = -2 exp(-beta)/e with e = expm1(-2 beta) (no overflow; impedance.py
    instead replaces sinh(beta) by 1e10 where Re beta >= 100).  With c = coth, s = csch,
    dF/dbeta = -(A (s^2 + c/beta) + B s (c + 1/beta))/beta:
    dZ/dA = c/beta,  dZ/dB = s/beta,  dZ/da = dF/dbeta/(2 beta),
    dZ/db = dF/dbeta j omega/(2 beta).
    """
    A, B, a, b = p
    beta = jnp.sqrt(a + 1j * omega * b)
    e = jnp.expm1(-2.0 * beta)
    r = jnp.exp(-beta)
    c = (2.0 + e) / (-e)
    s = -2.0 * r / e
    inv = 1.0 / beta
    fc, fs = c * inv, s * inv
    dbeta = -(A * (s * s + fc) + B * s * (c + inv)) * inv
    da = 0.5 * dbeta * inv
    return A * fc + B * fs, (fc, fs, da, da * 1j * omega)


_DE_LEVIE = ("R. de Levie, Electrochim. Acta 8 (1963) 751, doi:10.1016/0013-4686(63)80042-0")

SPECS = (
    ElementSpec("TLMQ", ("Rion", "Q", "n"), ("ohm", "F s^(n-1)", "1"), (10.0, 1e-3, 0.9),
                ((0.0, INF), (0.0, INF), (0.0, 1.0)), (True, True, False), tlm_cpe,
                "Z = sqrt(Rion Zs) coth(sqrt(Rion/Zs)), Zs = 1/(Q (j w)^n)",
                "transmission line, CPE interface (blocking pores)",
                "J. Landesfeind, J. Hattendorff, A. Ehrl, W. A. Wall, H. A. Gasteiger, "
                "J. Electrochem. Soc. 163 (2016) A1373, doi:10.1149/2.1141607jes; " + _DE_LEVIE),
    ElementSpec("TLMRQ", ("Rion", "Rct", "Q", "n"), ("ohm", "ohm", "F s^(n-1)", "1"),
                (10.0, 100.0, 1e-3, 0.9),
                ((0.0, INF), (0.0, INF), (0.0, INF), (0.0, 1.0)), (True, True, True, False),
                tlm_rq,
                "Z = sqrt(Rion Zi) coth(sqrt(Rion/Zi)), Zi = Rct/(1 + Rct Q (j w)^n)",
                "transmission line, R_ct || CPE interface",
                "J. Bisquert, G. Garcia-Belmonte, F. Fabregat-Santiago, N. S. Ferriols, "
                "P. Bogdanoff, E. C. Pereira, J. Phys. Chem. B 104 (2000) 2287, "
                "doi:10.1021/jp993148h; " + _DE_LEVIE),
    ElementSpec("T", ("A", "B", "a", "b"), ("ohm", "ohm", "1", "s"), (10.0, 10.0, 1.0, 1e-3),
                ((0.0, INF), (0.0, INF), (0.0, INF), (0.0, INF)), (True, True, True, True),
                paasch, "Z = A coth(beta)/beta + B/(beta sinh(beta)), beta = sqrt(a + j w b)",
                "macro-homogeneous porous electrode (Paasch)",
                "G. Paasch, K. Micka, P. Gersdorf, Electrochim. Acta 38 (1993) 2653, "
                "doi:10.1016/0013-4686(93)85083-B"),
)
