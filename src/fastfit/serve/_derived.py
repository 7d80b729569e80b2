"""Derived quantities of a fit run, for the dashboard's parameter plot.

* area-specific values of every resistance-like parameter (unit ``ohm...``), when the run
  records an electrode area (option ``area_cm2``): ``<name>_area`` in ohm cm2;
* effective capacitance and apex frequency of every R||CPE block ``p(Rk,CPEk)`` (and
  R||C block) of the circuit: ``<CPE>_C_eff`` (F; also ``<CPE>_C_eff_area``, F cm-2, with
  an area) and ``<CPE>_f_apex`` (Hz), by :func:`fastfit.analysis.effective_capacitance`
  and :func:`fastfit.analysis.apex_frequency`.

The store keeps each parameter's standard error but not the covariance, so derived
quantities that combine parameters (C_eff, f_apex) come without error bars; scaled ones
(area-specific R) scale their standard error exactly.  Spectra whose parameters lie
outside the formulas' domain (a failed fit: NaN, R <= 0, n outside (0, 1]) get NaN.
"""
from __future__ import annotations

import re

import numpy as np

from ..analysis import apex_frequency, effective_capacitance

__all__ = ["derived_columns", "rc_blocks"]

# canonical circuit strings (fastfit.Circuit renders "p(" + ",".join(children) + ")")
_PAIR = re.compile(r"p\((?P<a>(?:R|CPE|C)\d\w*),(?P<b>(?:R|CPE|C)\d\w*)\)")


def rc_blocks(circuit: str) -> list[tuple[str, str]]:
    """(resistor, capacitive element) names of the R||CPE and R||C blocks of ``circuit``.

    >>> rc_blocks("R0-p(R1,CPE1)-p(CPE2,R2)-p(R3,C3)")
    [('R1', 'CPE1'), ('R2', 'CPE2'), ('R3', 'C3')]
    >>> rc_blocks("R0-p(R1-R2,CPE1)")
    []
    """
    out = []
    for m in _PAIR.finditer(str(circuit).replace(" ", "")):
        a, b = m.group("a"), m.group("b")
        r = [x for x in (a, b) if re.match(r"R\d", x)]
        c = [x for x in (a, b) if re.match(r"C(PE)?\d", x)]
        if len(r) == 1 and len(c) == 1:
            out.append((r[0], c[0]))
    return out


def _valid(R, Q, n):
    ok = (np.isfinite(R) & np.isfinite(Q) & np.isfinite(n) & (R > 0) & (Q > 0)
          & (n > 0) & (n <= 1))
    return np.where(ok, R, np.nan), np.where(ok, Q, np.nan), np.where(ok, n, np.nan)


def derived_columns(names, units, circuit, params, stderr, area_cm2=None) -> dict:
    """Derived columns of a fit run.

    Parameters
    ----------
    names, units : list of str, the run's ``param_names`` and ``units``
    circuit : str, the run's circuit string
    params, stderr : (N, P) float, parameters and standard errors in ``units``
    area_cm2 : float or None, electrode area, cm2

    Returns
    -------
    dict name -> {"values": (N,), "stderr": (N,) or None, "unit": str, "label": str}
    """
    params = np.asarray(params, np.float64).reshape(-1, len(names))
    stderr = np.asarray(stderr, np.float64).reshape(params.shape)
    out: dict = {}
    if area_cm2 is not None and np.isfinite(area_cm2) and area_cm2 > 0:
        for k, (name, unit) in enumerate(zip(names, units)):
            if unit.startswith("ohm"):
                out[f"{name}_area"] = {"values": params[:, k] * area_cm2,
                                       "stderr": stderr[:, k] * area_cm2,
                                       "unit": unit + " cm2",
                                       "label": f"{name} x area (area-specific)"}
    index = {n: i for i, n in enumerate(names)}
    for r, c in rc_blocks(circuit):
        if r not in index:
            continue
        R = params[:, index[r]]
        if c.startswith("CPE"):
            if f"{c}_Q" not in index or f"{c}_n" not in index:
                continue
            Q, n = params[:, index[f"{c}_Q"]], params[:, index[f"{c}_n"]]
        elif c in index:
            Q, n = params[:, index[c]], np.ones_like(R)
        else:
            continue
        R, Q, n = _valid(R, Q, n)
        with np.errstate(all="ignore"):
            C = np.asarray(effective_capacitance(R, Q, n), np.float64).reshape(-1)
            f = np.asarray(apex_frequency(R, Q, n), np.float64).reshape(-1)
        out[f"{c}_C_eff"] = {"values": C, "stderr": None, "unit": "F",
                             "label": f"C_eff of p({r},{c})"}
        if area_cm2 is not None and np.isfinite(area_cm2) and area_cm2 > 0:
            out[f"{c}_C_eff_area"] = {"values": C / area_cm2, "stderr": None,
                                      "unit": "F cm-2", "label": f"C_eff / area of p({r},{c})"}
        out[f"{c}_f_apex"] = {"values": f, "stderr": None, "unit": "Hz",
                              "label": f"apex frequency of p({r},{c})"}
    return out
