"""Distribution functions the inference package needs, in numpy (fastfit has no scipy).

* :func:`betainc` -- regularised incomplete beta function I_x(a, b), vectorised;
* :func:`f_sf` -- survival function of Fisher's F distribution (F-test p-values);
* :func:`f_ppf` -- quantile of the F distribution (profile-likelihood thresholds);
* :func:`t_ppf_two_sided`, :func:`normal_ppf_two_sided` -- two-sided interval quantiles.

References: W. H. Press et al., *Numerical Recipes*, 3rd ed. (2007), sec. 6.4 (continued
fraction of I_x(a, b), modified Lentz method, eq. 6.4.5); M. Abramowitz, I. A. Stegun,
*Handbook of Mathematical Functions* (1964), 26.6.2 (F distribution through I_x).
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["betainc", "f_sf", "f_ppf", "t_ppf_two_sided", "normal_ppf_two_sided"]

_lgamma_scalar = np.frompyfunc(math.lgamma, 1, 1)


def _lgamma(v: np.ndarray) -> np.ndarray:
    """ln Gamma(v), elementwise; evaluated once per distinct value (degrees of freedom
    repeat across a batch)."""
    u, inv = np.unique(v, return_inverse=True)
    return _lgamma_scalar(u).astype(np.float64)[inv].reshape(v.shape)
_TINY = 1e-300
_EPS = 1e-15
_MAX_TERMS = 400


def _betacf(a, b, x):
    """Continued fraction of I_x(a, b) (Numerical Recipes eq. 6.4.5, modified Lentz);
    converges fast for x < (a + 1) / (a + b + 2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            delta = d * c
            h = h * delta
        if np.all(np.abs(delta - 1.0) < _EPS):
            break
    return h


def betainc(a, b, x):
    """Regularised incomplete beta function I_x(a, b) for a, b > 0, 0 <= x <= 1
    (arrays broadcast)."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, x)))
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & (a > 0) & (b > 0)
    out[ok & (x <= 0)] = 0.0
    out[ok & (x >= 1)] = 1.0
    inner = ok & (x > 0) & (x < 1)
    if inner.any():
        aa, bb, xx = a[inner], b[inner], x[inner]
        front = np.exp(_lgamma(aa + bb) - _lgamma(aa) - _lgamma(bb)
                       + aa * np.log(xx) + bb * np.log1p(-xx))
        direct = xx < (aa + 1.0) / (aa + bb + 2.0)
        # each branch evaluates its continued fraction where it converges (symmetry
        # I_x(a, b) = 1 - I_{1-x}(b, a) for the rest)
        lo = np.where(direct, xx, 0.0)
        hi = np.where(direct, 0.0, 1.0 - xx)
        val_lo = front * _betacf(aa, bb, lo) / aa
        val_hi = 1.0 - front * _betacf(bb, aa, hi) / bb
        out[inner] = np.where(direct, val_lo, val_hi)
    return out


def f_sf(F, d1, d2):
    """P(X > F) for X ~ F(d1, d2): I_{d2/(d2 + d1 F)}(d2/2, d1/2) (A&S 26.6.2); 1 for
    F <= 0, NaN where F is NaN."""
    F, d1, d2 = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (F, d1, d2)))
    x = d2 / (d2 + d1 * np.maximum(F, 0.0))
    out = betainc(d2 / 2.0, d1 / 2.0, x)
    return np.where(np.isnan(F), np.nan, out)


def f_ppf(q, d1, d2):
    """Quantile of F(d1, d2): F with P(X <= F) = q (bisection on :func:`f_sf`, relative
    accuracy 1e-12; arrays broadcast)."""
    q, d1, d2 = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (q, d1, d2)))
    lo = np.zeros(q.shape)
    hi = np.ones(q.shape)
    for _ in range(200):                          # bracket: grow hi until P(X <= hi) >= q
        short = 1.0 - f_sf(hi, d1, d2) < q
        if not short.any():
            break
        hi = np.where(short, 2.0 * hi, hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = 1.0 - f_sf(mid, d1, d2) < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if np.all(hi - lo <= 1e-12 * np.maximum(hi, 1e-300)):
            break
    return 0.5 * (lo + hi)


def t_ppf_two_sided(level: float, dof):
    """t with P(|T| <= t) = ``level`` for Student's t with ``dof`` degrees of freedom
    (t² is the F(1, dof) quantile at ``level``); arrays of dof allowed."""
    return np.sqrt(f_ppf(level, 1.0, dof))


def normal_ppf_two_sided(level: float) -> float:
    """z with P(|Z| <= z) = ``level`` for a standard normal (1.95996 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + 0.5 * float(level))
