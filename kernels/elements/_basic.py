"""Lumped elements: resistor, capacitor, inductor, constant-phase element, La.

Formulas follow the conventions of impedance.py's element library (same symbols and
parameter order) so that circuit strings mean the same thing in both tools.
"""
from __future__ import annotations

import jax.numpy as jnp

from ._spec import ElementSpec, cis_power, j_omega_log, real_complex, times_real

INF = float("inf")


def resistor(p, omega):
    """Z = R.  R: ohm."""
    (R,) = p
    Z = R + jnp.zeros_like(omega) + 0j
    return Z, (jnp.ones_like(Z),)


def capacitor(p, omega):
    """Z = 1/(j omega C).  C: F.   dZ/dC = -Z/C."""
    (C,) = p
    inv_c = 1.0 / C
    Z = real_complex(0.0, -inv_c / omega)
    return Z, (times_real(Z, -inv_c),)


def inductor(p, omega):
    """Z = j omega L.  L: H.   dZ/dL = j omega."""
    (L,) = p
    dL = 1j * omega + jnp.zeros_like(L)
    return L * dL, (dL,)


def cpe(p, omega):
    """Z = 1/(Q (j omega)^n).  Q: F s^(n-1) (= ohm^-1 s^n), n: 1.

    dZ/dQ = -Z/Q,  dZ/dn = -Z ln(j omega) = -Z (ln omega + j pi/2).
    """
    Q, n = p
    lw = jnp.log(omega)
    inv_q = 1.0 / Q
    Z = cis_power(lw, -n, inv_q)
    return Z, (times_real(Z, -inv_q), -Z * (lw + 0.5j * jnp.pi))


def la(p, omega):
    """Z = (L j omega)^n (impedance.py's "La": modified inductance).  L: H, n: 1.

    dZ/dL = n Z / L,  dZ/dn = Z ln(j omega L).
    """
    L, n = p
    lg = jnp.log(omega * L)
    Z = cis_power(lg, n)
    return Z, (times_real(Z, n / L), Z * (lg + 0.5j * jnp.pi))


SPECS = (
    ElementSpec("R", ("",), ("ohm",), (10.0,), ((0.0, INF),), (True,), resistor,
                "Z = R", "resistor"),
    ElementSpec("C", ("",), ("F",), (1e-6,), ((0.0, INF),), (True,), capacitor,
                "Z = 1/(j w C)", "capacitor"),
    ElementSpec("L", ("",), ("H",), (1e-6,), ((0.0, INF),), (True,), inductor,
                "Z = j w L", "inductor"),
    ElementSpec("CPE", ("Q", "n"), ("F s^(n-1)", "1"), (1e-6, 0.9),
                ((0.0, INF), (0.0, 1.0)), (True, False), cpe,
                "Z = 1/(Q (j w)^n)", "constant-phase element",
                "G. J. Brug, A. L. G. van den Eeden, M. Sluyters-Rehbach, J. H. Sluyters, "
                "J. Electroanal. Chem. 176 (1984) 275, doi:10.1016/S0022-0728(84)80324-1"),
    ElementSpec("La", ("L", "n"), ("H", "1"), (1e-6, 0.9),
                ((0.0, INF), (0.0, 1.0)), (True, False), la,
                "Z = (L j w)^n", "modified inductance (impedance.py's La)",
                "BioLogic application note 42 (modified inductance element)"),
)
