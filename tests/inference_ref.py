"""scipy references for the inference tests (test_compare, test_bootstrap, test_profile):
a closed-form numpy model of R0 + n R||CPE arcs and a tight bounded least_squares refit on
fastfit's objective."""
from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares


def rcpe_model(p, f, n_arcs):
    """Closed-form Z of R0 + n_arcs R||CPE (numpy; the scipy reference's model)."""
    jw = 1j * 2 * np.pi * f
    Z = p[0] + 0j
    for k in range(n_arcs):
        R, Q, n = p[1 + 3 * k: 4 + 3 * k]
        Z = Z + R / (1 + R * Q * jw ** n)
    return Z


def scipy_refit(f, z, p0, n_arcs, weight=None):
    """Tight scipy least_squares (trf) on fastfit's objective and bounds (modulus weights
    unless ``weight``: 1/sigma per point; log parameters except the CPE exponents, which
    lie in (0, 1]), from p0; returns (params, chi2)."""
    logm = np.ones(p0.size, bool)
    logm[3::3] = False
    w = 1.0 / np.abs(z) if weight is None else weight

    def res(x):
        d = rcpe_model(np.where(logm, np.exp(x), x), f, n_arcs) - z
        return np.concatenate([d.real * w, d.imag * w])

    x0 = np.where(logm, np.log(p0), np.minimum(p0, 1 - 1e-12))
    hi = np.where(logm, np.inf, 1.0)
    s = least_squares(res, x0, bounds=(-np.inf, hi), method="trf", xtol=1e-15, ftol=1e-15,
                      gtol=1e-15, max_nfev=20000)
    return np.where(logm, np.exp(s.x), s.x), 2 * s.cost
