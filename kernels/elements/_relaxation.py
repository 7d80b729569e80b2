"""Relaxation elements: Voigt RC in (R, tau) form, ZARC and Havriliak-Negami."""
from __future__ import annotations

import jax.numpy as jnp

from ._spec import ElementSpec, cis_power, times_real

INF = float("inf")


def voigt(p, omega):
    """Voigt element (R parallel C with tau = RC): Z = R / (1 + j omega tau).

    R: ohm, tau: s.  Used by lin-KK.  dZ/dR = 1/(1+j w tau), dZ/dtau = -Z j w/(1+j w tau).
    """
    R, tau = p
    d = 1.0 + 1j * omega * tau
    f = 1.0 / d
    Z = R * f
    return Z, (f, -Z * 1j * omega * f)


def zarc(p, omega):
    """ZARC (R parallel CPE in (R, tau, phi) form): Z = R / (1 + (j omega tau)^phi).

    R: ohm, tau: s, phi: 1 (0 < phi <= 1).  u = (j w tau)^phi:
    dZ/dR = 1/(1+u), dZ/dtau = -R phi u / (tau (1+u)^2), dZ/dphi = -R u ln(j w tau)/(1+u)^2.
    """
    R, tau, phi = p
    lg = jnp.log(omega * tau)
    u = cis_power(lg, phi)
    f = 1.0 / (1.0 + u)
    Z = R * f
    g = -R * u * f * f
    return Z, (f, times_real(g, phi / tau), g * (lg + 0.5j * jnp.pi))


def havriliak_negami(p, omega):
    """Havriliak-Negami: Z = R / (1 + (j omega tau)^alpha)^beta.

    R: ohm, tau: s, alpha: 1, beta: 1 (0 < alpha, beta <= 1; beta = 1 is a ZARC,
    alpha = 1 a Cole-Davidson).  u = (j w tau)^alpha, D = 1 + u:
    dZ/dR = Z/R, dZ/dtau = -beta Z alpha u/(tau D), dZ/dalpha = -beta Z u ln(j w tau)/D,
    dZ/dbeta = -Z ln D.
    """
    R, tau, alpha, beta = p
    lg = jnp.log(omega * tau)
    u = cis_power(lg, alpha)
    D = 1.0 + u
    logD = jnp.log(D)
    f = jnp.exp(-beta * logD)
    Z = R * f
    g = -beta * Z * u / D
    return Z, (f, times_real(g, alpha / tau), g * (lg + 0.5j * jnp.pi), -Z * logD)


SPECS = (
    ElementSpec("K", ("R", "tau"), ("ohm", "s"), (10.0, 1e-3), ((0.0, INF), (0.0, INF)),
                (True, True), voigt, "Z = R/(1 + j w tau)", "Voigt element R || C (lin-KK)",
                "M. Schoenleber, D. Klotz, E. Ivers-Tiffee, Electrochim. Acta 131 (2014) 20, "
                "doi:10.1016/j.electacta.2014.01.034"),
    ElementSpec("Zarc", ("R", "tau", "phi"), ("ohm", "s", "1"), (10.0, 1e-3, 0.9),
                ((0.0, INF), (0.0, INF), (0.0, 1.0)), (True, True, False), zarc,
                "Z = R/(1 + (j w tau)^phi)", "ZARC (R || CPE, Cole-Cole)",
                "K. S. Cole, R. H. Cole, J. Chem. Phys. 9 (1941) 341, doi:10.1063/1.1750906"),
    ElementSpec("HN", ("R", "tau", "alpha", "beta"), ("ohm", "s", "1", "1"),
                (10.0, 1e-3, 0.9, 0.9),
                ((0.0, INF), (0.0, INF), (0.0, 1.0), (0.0, 1.0)), (True, True, False, False),
                havriliak_negami, "Z = R/(1 + (j w tau)^alpha)^beta", "Havriliak-Negami",
                "S. Havriliak, S. Negami, Polymer 8 (1967) 161, "
                "doi:10.1016/0032-3861(67)90021-3"),
)
