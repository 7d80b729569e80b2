"""Derived quantities of an R‖CPE element: effective capacitance, apex frequency, and
their standard errors from the fit covariance (delta method).

The R‖CPE impedance is ``Z = R / (1 + R Q (j w)^n)`` (CPE: ``Z = 1/(Q (j w)^n)``, Q in
F s^(n-1), 0 < n <= 1).  Its −Im(Z) maximum lies at ``w_max = (R Q)^(-1/n)``, i.e.

    f_apex = 1 / (2 pi (R Q)^(1/n))                                   [Hz]

and the capacitance of the ideal RC with the same R and the same apex frequency is

    C_eff = (Q R^(1-n))^(1/n) = Q^(1/n) R^((1-n)/n)                   [F]

which satisfies ``2 pi f_apex R C_eff = 1`` exactly.

Which formula, and why
----------------------
This is the Hsu–Mansfeld form, ``C_eff = Q w_max^(n-1)`` (C. H. Hsu, F. Mansfeld,
Corrosion 57 (2001) 747, doi:10.5006/1.3280607) with ``w_max`` of the R‖CPE itself; in the
solid-state-ionics literature the same expression for an R‖CPE (R in parallel with the
CPE) is often called the "Brug formula".  Brug's own result for a *surface* distribution
of time constants with a series resistance R_s, ``C = Q^(1/n) (1/R_s + 1/R)^((n-1)/n)``
(G. J. Brug et al., J. Electroanal. Chem. 176 (1984) 275,
doi:10.1016/S0022-0728(84)80324-1), differs and needs R_s.  We use the Hsu–Mansfeld
form because (i) it needs only the element's own parameters, (ii) it reproduces the apex
frequency exactly, which is how the reference study (Ortmann et al., Adv. Energy Mater.
2023, Na|NZSP0.4) quotes its pairs "1.57 MHz, 4.5 nF cm⁻²", and (iii) for bulk and grain
boundary arcs of a solid electrolyte the dispersion is a distribution *through* the
sample (normal distribution), for which Hirschorn et al. (Electrochim. Acta 55 (2010)
6218, doi:10.1016/j.electacta.2009.10.065) recommend this form.

Units: with R in Ω and Q in F s^(n-1), C_eff is in F.  With an area-specific R (Ω cm²)
and an area-normalised Q (F s^(n-1) cm⁻²) the same formula gives F cm⁻².

Uncertainty (delta method)
--------------------------
For g(R, Q, n), ``var g ≈ ∇gᵀ Σ ∇g`` with Σ the (R, Q, n) covariance block of the fit.
Analytic gradients (L = ln(R Q)):

    ∂C/∂R = C (1-n) / (n R),   ∂C/∂Q = C / (n Q),   ∂C/∂n = −C L / n²
    ∂f/∂R = −f / (n R),        ∂f/∂Q = −f / (n Q),  ∂f/∂n =  f L / n²
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, ShapeError
from ._common import (as_float, broadcast, check_finite_or_nan, cpe_exponent, positive,
                      scalar_or_array)
from ._samples import sample_interval

__all__ = [
    "effective_capacitance",
    "apex_frequency",
    "relaxation_time",
    "RCPEDerived",
    "rcpe_derived",
    "rcpe_from_params",
    "rcpe_from_fit",
]


def _rqn(R, Q, n):
    R = positive("R", R)
    Q = positive("Q", Q)
    n = cpe_exponent("n", n)
    return broadcast(R=R, Q=Q, n=n)


def effective_capacitance(R, Q, n, *, samples: bool = False, level: float = 0.95):
    """Effective capacitance of an R‖CPE, ``C_eff = (Q R^(1-n))^(1/n)`` (Hsu–Mansfeld form).

    Parameters
    ----------
    R : float or array, Ω (or Ω cm²), > 0
    Q : float or array, F s^(n-1) (or F s^(n-1) cm⁻²), > 0
    n : float or array, CPE exponent in (0, 1]
    samples : bool, R, Q and n are bootstrap samples with the resample axis first
        (e.g. ``bs.samples[..., k]`` of :func:`fastfit.bootstrap`, (n_boot, B)); NaN marks a
        failed resample.  Returns their percentile interval instead of values.
    level : float, confidence level of that interval

    Arguments broadcast; NaN entries give NaN.

    Returns
    -------
    C_eff : float or array, F (F cm⁻² for area-specific inputs) -- or, with ``samples``, a
        ``fastfit.analysis.SampleInterval`` (value = median, lo, hi, stderr, samples of C_eff)

    Examples
    --------
    >>> float(effective_capacitance(100.0, 1e-9, 1.0))   # n = 1: an ideal capacitor
    1e-09
    """
    R, Q, n = _rqn(R, Q, n)
    C = Q ** (1.0 / n) * R ** ((1.0 - n) / n)
    if samples:
        return sample_interval(C, level, name="R, Q, n samples")
    return scalar_or_array(C)


def apex_frequency(R, Q, n, *, samples: bool = False, level: float = 0.95):
    """Frequency of the −Im(Z) maximum of an R‖CPE, ``f = 1 / (2 pi (R Q)^(1/n))``, Hz.

    Parameters, broadcasting and ``samples`` / ``level`` (bootstrap samples in, a
    ``SampleInterval`` out) as in :func:`effective_capacitance`.

    Examples
    --------
    >>> round(float(apex_frequency(1e3, 1e-9, 1.0)))   # 1/(2 pi R C)
    159155
    """
    R, Q, n = _rqn(R, Q, n)
    f = 1.0 / (2 * np.pi * (R * Q) ** (1.0 / n))
    if samples:
        return sample_interval(f, level, name="R, Q, n samples")
    return scalar_or_array(f)


def relaxation_time(R, Q, n):
    """Characteristic time constant ``tau = (R Q)^(1/n) = R C_eff = 1/(2 pi f_apex)``, s."""
    R, Q, n = _rqn(R, Q, n)
    return scalar_or_array((R * Q) ** (1.0 / n))


def _gradients(R, Q, n, C, f):
    L = np.log(R * Q)
    gC = np.stack([C * (1 - n) / (n * R), C / (n * Q), -C * L / n**2], axis=-1)
    gf = np.stack([-f / (n * R), -f / (n * Q), f * L / n**2], axis=-1)
    return gC, gf


@dataclass(frozen=True)
class RCPEDerived:
    """Effective capacitance and apex frequency of R‖CPE elements, with standard errors.

    Every field has the broadcast shape ``S`` of the inputs (a scalar for scalar inputs).
    Standard errors are NaN when no covariance was given.

    Attributes
    ----------
    C_eff : (S) float, F — ``(Q R^(1-n))^(1/n)``
    C_eff_stderr : (S) float, F — delta-method standard error
    f_apex : (S) float, Hz — ``1/(2 pi (R Q)^(1/n))``
    f_apex_stderr : (S) float, Hz
    tau : (S) float, s — ``(R Q)^(1/n)``
    cov : (S, 2, 2) float — covariance of (C_eff [F], f_apex [Hz])
    C_eff_areal : (S) float, F cm⁻², or None when no electrode area was given
    C_eff_areal_stderr : (S) float, F cm⁻², or None
    """

    C_eff: np.ndarray
    C_eff_stderr: np.ndarray
    f_apex: np.ndarray
    f_apex_stderr: np.ndarray
    tau: np.ndarray
    cov: np.ndarray
    C_eff_areal: np.ndarray | None = None
    C_eff_areal_stderr: np.ndarray | None = None

    def to_dataframe(self):
        """pandas DataFrame, one row per element (flattened), SI units in column names."""
        import pandas as pd

        cols = {"C_eff_F": self.C_eff, "C_eff_stderr_F": self.C_eff_stderr,
                "f_apex_Hz": self.f_apex, "f_apex_stderr_Hz": self.f_apex_stderr,
                "tau_s": self.tau}
        if self.C_eff_areal is not None:
            cols["C_eff_F_cm2"] = self.C_eff_areal
            cols["C_eff_stderr_F_cm2"] = self.C_eff_areal_stderr
        return pd.DataFrame({k: np.ravel(v) for k, v in cols.items()})


def _select_cov(cov, idx, shape):
    """(shape, 3, 3) covariance of (R, Q, n) from ``cov`` (+ optional indices ``idx``)."""
    S = check_finite_or_nan("cov", as_float("cov", cov))
    if idx is not None:
        idx = np.asarray(idx)
        if idx.shape != (3,) or idx.dtype.kind not in "iu":
            raise ShapeError(f"idx must be three integer indices (R, Q, n) into cov; got {idx!r}")
        if S.ndim < 2 or S.shape[-1] != S.shape[-2]:
            raise ShapeError(f"cov must be (..., P, P); got shape {S.shape}")
        P = S.shape[-1]
        if np.any(idx < -P) or np.any(idx >= P):
            raise ShapeError(f"idx {idx.tolist()} out of range for a {P}x{P} covariance")
        S = S[..., idx[:, None], idx[None, :]]
    if S.shape[-2:] != (3, 3):
        raise ShapeError(f"cov must end in (3, 3) for (R, Q, n) (or pass idx= to pick them "
                         f"from a full fit covariance); got shape {S.shape}")
    try:
        S = np.broadcast_to(S, tuple(shape) + (3, 3))
    except ValueError:
        raise ShapeError(f"cov of shape {S.shape} does not match parameters of shape "
                         f"{tuple(shape)} (expected {tuple(shape) + (3, 3)})") from None
    diag = np.diagonal(S, axis1=-2, axis2=-1)
    if np.any(diag < 0):
        raise DataError("cov has a negative variance on its diagonal")
    return S


def rcpe_derived(R, Q, n, cov=None, *, idx=None, area_cm2=None) -> RCPEDerived:
    """C_eff and f_apex of R‖CPE elements with delta-method standard errors.

    Parameters
    ----------
    R, Q, n : float or array, broadcast to a common shape S (units as in
        :func:`effective_capacitance`)
    cov : (S, 3, 3) float, optional
        Covariance of (R [Ω], Q [F s^(n-1)], n) per element; or, with ``idx``, the full
        fit covariance ``(S, P, P)`` in physical parameter units.  NaN entries (failed
        fits) give NaN standard errors.
    idx : three ints, optional
        Positions of R, Q and n in a full ``(P, P)`` covariance (e.g. from
        ``Circuit.param_index``).
    area_cm2 : float, optional
        Electrode area; adds ``C_eff_areal = C_eff / area`` (F cm⁻²) and its stderr.

    Returns
    -------
    RCPEDerived

    Notes
    -----
    ``var g = ∇gᵀ Σ ∇g`` with the analytic gradients in the module docstring (first order;
    accurate while the relative errors are small, see tests against Monte Carlo).
    """
    R, Q, n = _rqn(R, Q, n)
    C = Q ** (1.0 / n) * R ** ((1.0 - n) / n)
    tau = (R * Q) ** (1.0 / n)
    f = 1.0 / (2 * np.pi * tau)
    if cov is None:
        cov2 = np.full(R.shape + (2, 2), np.nan)
    else:
        S = _select_cov(cov, idx, R.shape)
        gC, gf = _gradients(R, Q, n, C, f)
        G = np.stack([gC, gf], axis=-2)                       # (S, 2, 3)
        cov2 = np.einsum("...ij,...jk,...lk->...il", G, S, G)
    se = np.sqrt(np.clip(np.diagonal(cov2, axis1=-2, axis2=-1), 0, None))
    C_se, f_se = se[..., 0], se[..., 1]
    Ca = Ca_se = None
    if area_cm2 is not None:
        A = positive("area_cm2", area_cm2, allow_nan=False)
        Ca, Ca_se = C / A, C_se / A
    s = scalar_or_array
    return RCPEDerived(C_eff=s(C), C_eff_stderr=s(C_se), f_apex=s(f), f_apex_stderr=s(f_se),
                       tau=s(tau), cov=cov2,
                       C_eff_areal=None if Ca is None else s(Ca),
                       C_eff_areal_stderr=None if Ca_se is None else s(Ca_se))


def _index(names, name, what):
    if name not in names:
        raise ShapeError(f"{what}: no parameter {name!r}; parameters are {', '.join(names)}")
    return names.index(name)


def rcpe_from_params(params, cov, param_names, R: str = "R1", CPE: str = "CPE1", *,
                     area_cm2=None) -> RCPEDerived:
    """:func:`rcpe_derived` for one R‖CPE of a fitted circuit, picked by name.

    Parameters
    ----------
    params : (P,) or (B, P) float, fitted parameters in ``param_names`` order
    cov : (P, P) or (B, P, P) float, or None — fit covariance in physical units
    param_names : list of str, or a :class:`fastfit.Circuit`
    R : str — name of the resistor in parallel with the CPE ("R1")
    CPE : str — name of the CPE element ("CPE1"; its parameters are CPE1_Q, CPE1_n)
    area_cm2 : float, optional — adds area-normalised capacitances
    """
    names = list(getattr(param_names, "param_names", param_names))
    p = as_float("params", params)
    if p.ndim not in (1, 2) or p.shape[-1] != len(names):
        raise ShapeError(f"params must be (P,) or (B, P) with P = {len(names)} "
                         f"({', '.join(names)}); got shape {p.shape}")
    ids = [_index(names, R, f"R={R!r}"), _index(names, f"{CPE}_Q", f"CPE={CPE!r}"),
           _index(names, f"{CPE}_n", f"CPE={CPE!r}")]
    if cov is not None:
        c = as_float("cov", cov)
        if c.shape != p.shape[:-1] + (len(names), len(names)):
            raise ShapeError(f"cov must have shape {p.shape[:-1] + (len(names), len(names))} "
                             f"to match params {p.shape}; got {c.shape}")
        cov = c
    return rcpe_derived(p[..., ids[0]], p[..., ids[1]], p[..., ids[2]], cov,
                        idx=None if cov is None else ids, area_cm2=area_cm2)


def rcpe_from_fit(result, R: str = "R1", CPE: str = "CPE1", *, area_cm2=None,
                  param_names=None) -> RCPEDerived:
    """:func:`rcpe_from_params` on a fit result (``fastfit.fit`` output or look-alike).

    ``result`` needs ``params`` ((B, P) or (P,)) and ``cov`` (may be None), and either
    ``param_names``, ``circuit`` (a :class:`fastfit.Circuit`) or the ``param_names=``
    argument.
    """
    names = param_names
    if names is None:
        names = getattr(result, "param_names", None)
    if names is None and getattr(result, "circuit", None) is not None:
        names = result.circuit.param_names
    if names is None:
        raise ShapeError("cannot tell the parameter names of this fit result; pass "
                         "param_names= (a list or the Circuit)")
    if not hasattr(result, "params"):
        raise ShapeError(f"{type(result).__name__} has no 'params' attribute")
    return rcpe_from_params(result.params, getattr(result, "cov", None), names, R, CPE,
                            area_cm2=area_cm2)
