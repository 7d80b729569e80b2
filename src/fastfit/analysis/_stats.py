"""Small statistics helpers without scipy (Student-t quantile for integer dof)."""
from __future__ import annotations

import math


def _t_abs_cdf(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with integer ``dof`` >= 1.

    Closed forms of Abramowitz & Stegun 26.7.3 (odd dof) and 26.7.4 (even dof) with
    theta = atan(t / sqrt(dof)).
    """
    th = math.atan(t / math.sqrt(dof))
    s, c = math.sin(th), math.cos(th)
    c2 = c * c
    if dof % 2 == 1:
        if dof == 1:
            return 2 * th / math.pi
        term, total = 1.0, 1.0
        for k in range(1, (dof - 3) // 2 + 1):       # (2*4..)/(3*5..) cos^(2k)
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (th + s * c * total)
    term, total = 1.0, 1.0
    for k in range(1, (dof - 2) // 2 + 1):           # (1*3..)/(2*4..) cos^(2k)
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return s * total


def t_quantile_two_sided(confidence: float, dof: int) -> float:
    """t such that P(|T| <= t) = ``confidence`` for Student's t with ``dof`` degrees of
    freedom (e.g. 12.706 for 0.95 and dof = 1; 1.960 as dof -> inf).  Bisection on the
    closed-form CDF, |error| < 1e-12."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    if dof < 1:
        raise ValueError(f"dof must be >= 1; got {dof}")
    lo, hi = 0.0, 1.0
    while _t_abs_cdf(hi, dof) < confidence:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_abs_cdf(mid, dof) < confidence:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def normal_quantile_two_sided(confidence: float) -> float:
    """z such that P(|Z| <= z) = ``confidence`` for a standard normal (bisection on erf)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if math.erf(mid / math.sqrt(2)) < confidence:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
