"""Credible bands of gamma and samples for peak intervals (``drt(..., bands=level)``).

Bayesian reading of the regularised problem (Tikhonov = Gaussian prior): with white
noise of std sigma on every fitted real number (Re and Im rows),

    p(x | Z) ~ exp(-(||A x - b||^2 + lam x^T M x) / (2 sigma^2))   [x in the constraint set]

Without constraints (``sign="free"``, or no constraint active at the optimum) this is
the Gaussian N(x_hat, sigma^2 H^-1), H = A^T A + lam M, and the band of
gamma(tau) = e(tau)^T x is x_hat's value +- z sigma sqrt(e^T H^-1 e) (closed form).
Where a constraint is active (some constrained coefficient exactly 0) the posterior is
a truncated Gaussian; it is sampled by perturbation-optimisation ("randomise then
optimise"; Papandreou & Yuille, ICCV 2011; Bardsley et al., SIAM J. Sci. Comput. 36
(2014) A1895): each sample solves the same constrained problem with the linear term
q = A^T b replaced by q + sigma C eps, C C^T = H, eps ~ N(0, I) -- exact posterior
samples for an inactive constraint, a standard approximation of the truncated one
otherwise.  All samples of a batch are one batched exact solve (shared H).  The band
is then the central ``level`` quantile interval of gamma over the samples.

sigma: the ``noise`` given by the caller (ohm), else estimated per spectrum from the
residual, sigma^2 = ||A x - b||^2 / (n_obs - dof), dof = tr(A H^-1 A^T) of the
unconstrained problem (an upper bound of the constrained one's: slightly conservative).
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

from ._qp import normal_matrix, solve_qp

__all__ = ["posterior_band"]

_MIN_EIG = 1e-11       # eigenvalue floor of the Jacobi-scaled H (as the NNLS kernel)


def _factors(H, free):
    """(Hinv, C) with Hinv = H^-1 and C C^T = H on the free columns, via the
    Jacobi-scaled matrix (its diagonal spans many decades: the inductance column)."""
    dg = np.diag(H)
    d = np.where(free & (dg > 0), 1.0 / np.sqrt(np.where(dg > 0, dg, 1.0)), 0.0)
    Ht = H * d[:, None] * d[None, :] + np.diag(np.where(d > 0, 0.0, 1.0))
    w, V = np.linalg.eigh(0.5 * (Ht + Ht.T))
    w = np.maximum(w, _MIN_EIG)
    Kt = (V / w) @ V.T
    Hinv = Kt * d[:, None] * d[None, :]
    inv_d = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    C = (V * np.sqrt(w)) * inv_d[:, None]                 # C C^T = H (free block)
    L = (V / np.sqrt(w)) * d[:, None]                     # L L^T = H^-1
    return Hinv, C, L


def posterior_band(A, M, free, b, lam, x, sign, constrained, coef, E, n_obs, *, level,
                   n_samples, noise, rng):
    """Band and samples of k spectra sharing A, M, ``free`` and ``lam``.

    Parameters
    ----------
    A (R, N), M (N, N), free (N,) bool, b (k, R), lam float, x (k, N) the optimum,
    sign (k, N) +-1, constrained bool; coef : slice of the gamma coefficients in x;
    E (To, T) gamma on the output grid = E @ x[coef]; n_obs : fitted real numbers;
    level, n_samples; noise (k,) ohm or None; rng : numpy Generator

    Returns
    -------
    lo, hi (k, To) ohm; samples (k, n_samples, T) coefficient samples; sigma (k,) ohm;
    sampled (k,) bool (True: perturbation-optimisation, False: closed-form Gaussian)
    """
    k, N = x.shape
    H = normal_matrix(A, M, lam, free)
    Hinv, C, L = _factors(H, free)
    Af = A * free[None, :]
    dof = float(np.sum((Af @ Hinv) * Af))
    r = x @ A.T - b
    rss = np.sum(r * r, axis=1)
    sigma = (np.sqrt(rss / max(n_obs - dof, 1.0)) if noise is None
             else np.asarray(noise, np.float64))
    sampled = constrained & np.any(free[None, :] & (x == 0.0), axis=1)
    gamma = x[:, coef] @ E.T
    z = NormalDist().inv_cdf(0.5 + 0.5 * level)
    Hc = Hinv[coef, coef]
    sd = np.sqrt(np.maximum(np.sum((E @ Hc) * E, axis=1), 0.0))
    lo = gamma - z * sigma[:, None] * sd[None, :]
    hi = gamma + z * sigma[:, None] * sd[None, :]
    eps = rng.standard_normal((k, n_samples, N))
    samples = x[:, None, :] + sigma[:, None, None] * (eps @ L.T)
    idx = np.nonzero(sampled)[0]
    if idx.size:
        S = n_samples
        rep = np.repeat(idx, S)
        extra = sigma[rep, None] * (eps[idx].reshape(-1, N) @ C.T)
        xs, _, _ = solve_qp(A, M, free, b[rep], lam, True, sign[rep], q_extra=extra)
        samples[idx] = xs.reshape(idx.size, S, N)
        g = samples[idx][:, :, coef] @ E.T                     # (k_s, S, To)
        lo[idx] = np.quantile(g, 0.5 - 0.5 * level, axis=1)
        hi[idx] = np.quantile(g, 0.5 + 0.5 * level, axis=1)
    return lo, hi, samples[:, :, coef], sigma, sampled
