"""Attainable chi2: a generous linear Kramers-Kronig model fitted in the fit's own weights.

Model (Boukamp, J. Electrochem. Soc. 142 (1995) 1885, doi:10.1149/1.2044210; Schönleber
et al., Electrochim. Acta 131 (2014) 20, doi:10.1016/j.electacta.2014.01.034)::

    Z_hat(w) = R0 + j w L + 1/(j w C) + sum_{k=1..M} R_k / (1 + j w tau_k),

tau_k log-spaced over [1/w_max, 1/w_min] of each spectrum, linear in (R0, L, 1/C, R_k),
solved by weighted least squares with the fit's residual weights (no sign constraints:
only the residual level is wanted).  One batched Cholesky solve per spectrum; runs on the
calling thread before the fit is split over devices.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["kk_chi2", "kk_chi2_shared"]


@partial(jax.jit, static_argnums=(4,))
def kk_chi2(omega, Z, w_re, w_im, M: int):
    """(B,) weighted chi2 of the lin-KK model with M Voigt elements.

    omega : (B, F) rad/s;  Z : (B, F) complex128;  w_re, w_im : (B, F) weights (0 = unused)
    """
    used = (w_re > 0) | (w_im > 0)
    big = jnp.where(used, omega, -jnp.inf).max(axis=1)
    small = jnp.where(used, omega, jnp.inf).min(axis=1)
    u = jnp.linspace(0.0, 1.0, M)
    log_tau = -jnp.log(big)[:, None] + u[None, :] * (jnp.log(big) - jnp.log(small))[:, None]
    jw = 1j * omega
    cols = [jnp.ones_like(jw), jw, 1.0 / jw]
    voigt = 1.0 / (1.0 + jw[:, :, None] * jnp.exp(log_tau)[:, None, :])         # (B, F, M)
    A = jnp.concatenate([jnp.stack(cols, axis=-1), voigt], axis=-1)             # (B, F, M+3)
    Ar = A.real * w_re[..., None]
    Ai = A.imag * w_im[..., None]
    # column scaling: the columns span many decades (L, 1/C against R)
    s = jnp.sqrt(jnp.sum(Ar * Ar + Ai * Ai, axis=1)) + 1e-300                   # (B, M+3)
    Ar, Ai = Ar / s[:, None, :], Ai / s[:, None, :]
    G = jnp.einsum("bfi,bfj->bij", Ar, Ar) + jnp.einsum("bfi,bfj->bij", Ai, Ai)
    zr, zi = Z.real * w_re, Z.imag * w_im
    rhs = jnp.einsum("bfi,bf->bi", Ar, zr) + jnp.einsum("bfi,bf->bi", Ai, zi)
    G = G + 1e-12 * jnp.eye(M + 3)
    x = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(G), rhs[..., None])[..., 0]
    rr = jnp.einsum("bfi,bi->bf", Ar, x) - zr
    ri = jnp.einsum("bfi,bi->bf", Ai, x) - zi
    return jnp.sum(rr * rr + ri * ri, axis=1)


@partial(jax.jit, static_argnums=(4,))
def kk_chi2_shared(omega, Z, w_re, w_im, M: int):
    """(B,) the same chi2 for spectra on one frequency grid ``omega`` (F,) rad/s.

    The design matrix A (F, K) is then shared and only the weights differ, so every
    spectrum's normal matrix is one GEMM over the frequency axis:
    G_b = sum_f w_bf^2 a_f a_f^T  ->  (B, F) @ (F, K*K);  chi2 = z^T W z - b^T x at the
    least-squares solution x (the columns scaled to unit norm first; the cancellation
    costs ~5 of 16 digits at 0.5 % noise, far below what the estimate needs).
    Points with zero weight in both parts are unused.
    """
    used = (w_re > 0) | (w_im > 0)
    big = jnp.where(used, omega[None, :], -jnp.inf).max()
    small = jnp.where(used, omega[None, :], jnp.inf).min()
    u = jnp.linspace(0.0, 1.0, M)
    log_tau = -jnp.log(big) + u * (jnp.log(big) - jnp.log(small))
    jw = 1j * omega
    A = jnp.concatenate([jnp.stack([jnp.ones_like(jw), jw, 1.0 / jw], axis=-1),
                         1.0 / (1.0 + jw[:, None] * jnp.exp(log_tau)[None, :])], axis=-1)
    K = M + 3
    Ar, Ai = A.real, A.imag                                                       # (F, K)
    wr2, wi2 = w_re * w_re, w_im * w_im                                           # (B, F)
    AAr = (Ar[:, :, None] * Ar[:, None, :]).reshape(-1, K * K)
    AAi = (Ai[:, :, None] * Ai[:, None, :]).reshape(-1, K * K)
    G = (wr2 @ AAr + wi2 @ AAi).reshape(-1, K, K)                                 # (B, K, K)
    zr, zi = wr2 * Z.real, wi2 * Z.imag
    rhs = zr @ Ar + zi @ Ai                                                       # (B, K)
    zz = jnp.sum(zr * Z.real + zi * Z.imag, axis=1)
    s = jnp.sqrt(jnp.diagonal(G, axis1=1, axis2=2)) + 1e-300                      # (B, K)
    Gs = G / (s[:, :, None] * s[:, None, :]) + 1e-12 * jnp.eye(K)
    bs = rhs / s
    x = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(Gs), bs[..., None])[..., 0]
    return jnp.maximum(zz - jnp.sum(bs * x, axis=1), 0.0)
