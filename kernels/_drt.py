"""Discretised DRT kernels: system matrices, penalties and basis evaluation.

Model (impedance, ohm)::

    Z(w) = R_inf + j w L + integral gamma(y) / (1 + j w e^y) dy,      y = ln tau

with ``gamma(y) = sum_m x_m phi_m(y)``.  For every frequency ``w_p`` and basis function
``phi_m`` this module builds

    A_re[p, m] =  integral phi_m(y) / (1 + (w_p e^y)^2) dy
    A_im[p, m] = -integral phi_m(y) w_p e^y / (1 + (w_p e^y)^2) dy

so that ``Re Z = R_inf + A_re x`` and ``Im Z = w L + A_im x``, and the Tikhonov penalty
``M[m, n] = integral phi_m^(k)(y) phi_n^(k)(y) dy`` (k = 0, 1, 2) so that
``x^T M x = integral (d^k gamma / dy^k)^2 dy``.

Two bases (Wan, Saccoccio, Chen, Ciucci, Electrochim. Acta 184 (2015) 483,
doi:10.1016/j.electacta.2015.09.097):

* Gaussian RBF ``phi(y) = exp(-(eps (y - y_m))^2)``; ``A`` by a trapezoid rule in
  ``u = eps x`` (spectrally accurate for this smooth, Gaussian-weighted integrand:
  ~1e-15 relative, checked against adaptive quadrature in the tests); ``M`` in closed
  form: with ``a = eps (y_m - y_n)`` and ``C(d) = sqrt(pi/2)/eps exp(-a^2/2)``,
  ``M_k = (-1)^k C^(2k)(d)``:  k=0: ``sqrt(pi/2)/eps e^{-a^2/2}``; k=1:
  ``sqrt(pi/2) eps (1-a^2) e^{-a^2/2}``; k=2: ``sqrt(pi/2) eps^3 (3-6a^2+a^4) e^{-a^2/2}``.
* Piecewise linear (hat functions on the tau nodes, half hats at both ends); ``A`` by
  8-point Gauss-Legendre on every segment (exact to rounding for this smooth integrand).

All functions are pure JAX, float64, and work on one grid (the grid is shared by a
batch; batching happens in the solver).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
import jax
import jax.numpy as jnp

__all__ = [
    "gaussian_kernels", "gaussian_penalty", "gaussian_eval",
    "pwl_kernels", "pwl_collocation_kernels", "pwl_penalty", "pwl_eval",
    "toeplitz", "stack_system", "drt_matrices", "DRTMatrices",
]

_SQRT_PI_2 = float(np.sqrt(np.pi / 2.0))
# 8-point Gauss-Legendre on [0, 1]
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_GL_X = 0.5 * (_GL_X + 1.0)
_GL_W = 0.5 * _GL_W


def _kernel_re_im(s):
    """Real/imag Debye kernels at ``s = ln(w tau)``: 1/(1+e^{2s}) and -1/(2 cosh s)."""
    return 0.5 * (1.0 - jnp.tanh(s)), -0.5 / jnp.cosh(s)


@partial(jax.jit, static_argnames=("n_nodes",))
def gaussian_kernels(log_omega, log_tau, eps, n_nodes: int = 281):
    """A_re, A_im (F, T) for Gaussian RBFs of shape factor ``eps`` centred at ``log_tau``.

    Trapezoid rule on ``u = eps x`` over [-7, 7] (the Gaussian weight is below 1e-21
    outside) with ``n_nodes`` points; the default spacing 0.05 in ``u`` is accurate to
    rounding for ``eps >= 0.25`` (a wider RBF needs a finer rule: pass more nodes).
    """
    log_omega = jnp.asarray(log_omega, jnp.float64)
    log_tau = jnp.asarray(log_tau, jnp.float64)
    u = jnp.linspace(-7.0, 7.0, n_nodes)
    w = jnp.exp(-u * u) * (u[1] - u[0]) / eps          # weights in x = u / eps
    x = u / eps

    def row(lw):
        s = lw + log_tau[:, None] + x[None, :]            # (T, K)
        kre, kim = _kernel_re_im(s)
        return kre @ w, kim @ w

    return jax.lax.map(row, log_omega)


@partial(jax.jit, static_argnames=("derivative",))
def gaussian_penalty(log_tau, eps, derivative: int):
    """Exact ``M[m, n] = integral phi_m^(k) phi_n^(k) dy`` for Gaussian RBFs (T, T)."""
    log_tau = jnp.asarray(log_tau, jnp.float64)
    a = eps * (log_tau[:, None] - log_tau[None, :])
    a2 = a * a
    g = jnp.exp(-0.5 * a2) * _SQRT_PI_2
    if derivative == 0:
        return g / eps
    if derivative == 1:
        return g * eps * (1.0 - a2)
    if derivative == 2:
        return g * eps ** 3 * (3.0 - 6.0 * a2 + a2 * a2)
    raise ValueError("derivative must be 0, 1 or 2")


@jax.jit
def gaussian_eval(log_tau_out, log_tau, eps):
    """Matrix (T_out, T) with ``gamma(log_tau_out) = E @ x`` for Gaussian RBFs."""
    d = eps * (jnp.asarray(log_tau_out)[:, None] - jnp.asarray(log_tau)[None, :])
    return jnp.exp(-d * d)


@jax.jit
def pwl_kernels(log_omega, log_tau):
    """A_re, A_im (F, T) for hat functions on ``log_tau`` (ascending), integrated exactly.

    ``gamma`` is linear between nodes and zero outside ``[log_tau[0], log_tau[-1]]``.
    """
    log_omega = jnp.asarray(log_omega, jnp.float64)
    y = jnp.asarray(log_tau, jnp.float64)
    h = jnp.diff(y)                                       # (T-1,)
    pts = y[:-1, None] + h[:, None] * _GL_X[None, :]      # (T-1, 8) nodes per segment
    wts = h[:, None] * _GL_W[None, :]
    up = wts * _GL_X[None, :]                             # weight of the right node (rising hat)
    dn = wts * (1.0 - _GL_X[None, :])                     # weight of the left node

    def row(lw):
        kre, kim = _kernel_re_im(lw + pts)                # (T-1, 8)
        out = []
        for k in (kre, kim):
            left = jnp.sum(k * dn, axis=1)               # contributes to node i
            right = jnp.sum(k * up, axis=1)              # contributes to node i+1
            out.append(jnp.zeros(y.shape[0]).at[:-1].add(left).at[1:].add(right))
        return out[0], out[1]

    return jax.lax.map(row, log_omega)


@jax.jit
def pwl_collocation_kernels(log_omega, log_tau):
    """pyDRTtools' piecewise-linear matrices (collocation with trapezoid weights).

    ``A[p, q] = K(w_p tau_q) * c_q`` with ``c_q = ln(tau_{q+1}/tau_{q-1}) / 2`` inside and
    one-sided half widths at both ends (Saccoccio et al., Electrochim. Acta 147 (2014)
    470, eqs. A.3-A.5).
    """
    y = jnp.asarray(log_tau, jnp.float64)
    d = jnp.diff(y)
    c = 0.5 * jnp.concatenate([d[:1], d[1:] + d[:-1], d[-1:]])
    kre, kim = _kernel_re_im(jnp.asarray(log_omega)[:, None] + y[None, :])
    return kre * c, kim * c


@partial(jax.jit, static_argnames=("derivative", "style"))
def pwl_penalty(log_tau, derivative: int, style: str = "integral"):
    """Penalty for hat functions on ``log_tau`` (ascending, T nodes).

    ``style="integral"``: ``x^T M x`` approximates ``integral (gamma^(k))^2 dy``:
    k=0 the exact mass matrix, k=1 exact (``D1^T diag(h) D1`` with ``D1 = diff / h``),
    k=2 second differences over the squared mean spacing, weighted by that spacing.
    ``style="pydrttools"``: pyDRTtools' ``M = L^T L`` (first differences over ``h``;
    second differences over ``h^2`` with rows [2, -4, 2] at both ends).
    """
    y = jnp.asarray(log_tau, jnp.float64)
    T = y.shape[0]
    h = jnp.diff(y)
    if derivative == 0:
        hp = jnp.concatenate([jnp.zeros(1), h, jnp.zeros(1)])
        diag = (hp[:-1] + hp[1:]) / 3.0
        off = h / 6.0
        return jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    if derivative == 1:
        D = (jnp.eye(T - 1, T, 1) - jnp.eye(T - 1, T)) / h[:, None]
        w = h if style == "integral" else jnp.ones(T - 1)
        return D.T @ (w[:, None] * D)
    if derivative == 2:
        D = jnp.eye(T - 2, T) - 2.0 * jnp.eye(T - 2, T, 1) + jnp.eye(T - 2, T, 2)
        if style == "integral":
            hm = 0.5 * (h[:-1] + h[1:])
            D = D / hm[:, None] ** 2
            return D.T @ (hm[:, None] * D)
        D = D / h[:-1, None] ** 2
        D = D.at[0].multiply(2.0).at[-1].multiply(2.0)
        return D.T @ D
    raise ValueError("derivative must be 0, 1 or 2")


@jax.jit
def pwl_eval(log_tau_out, log_tau):
    """Matrix (T_out, T): linear interpolation of nodal values (zero outside the grid)."""
    yo = jnp.asarray(log_tau_out)[:, None]
    y = jnp.asarray(log_tau)
    left = jnp.concatenate([y[:1], y[:-1]])
    right = jnp.concatenate([y[1:], y[-1:]])
    up = jnp.where(yo <= y, (yo - left) / jnp.where(y > left, y - left, 1.0), 0.0)
    dn = jnp.where(yo > y, (right - yo) / jnp.where(right > y, right - y, 1.0), 0.0)
    hat = jnp.clip(jnp.where(yo <= y, up, dn), 0.0, 1.0)
    return jnp.where(yo == y, 1.0, hat)


@jax.jit
def toeplitz(first_col, first_row):
    """Toeplitz matrix ``T[i, j] = c[i-j]`` (i >= j) or ``r[j-i]`` (i < j)."""
    c = jnp.asarray(first_col)
    r = jnp.asarray(first_row)
    i = jnp.arange(c.shape[0])[:, None]
    j = jnp.arange(r.shape[0])[None, :]
    return jnp.where(i >= j, c[jnp.clip(i - j, 0, c.shape[0] - 1)],
                     r[jnp.clip(j - i, 0, r.shape[0] - 1)])


@partial(jax.jit, static_argnames=("fit_R_inf", "fit_L"))
def stack_system(A_re, A_im, omega, weight_re, weight_im, fit_R_inf: bool, fit_L: bool):
    """Real design matrix ``A (2F, T+2)`` with columns ``[R_inf, L, x_1..x_T]``.

    Rows are ``[Re(Z_1..Z_F), Im(Z_1..Z_F)]`` multiplied by the row weights (0 removes a
    point or a part).  A column that is not fitted is all zero (the solver pins it).
    """
    F = A_re.shape[0]
    ones = jnp.ones((F, 1)) * (1.0 if fit_R_inf else 0.0)
    zeros = jnp.zeros((F, 1))
    wl = jnp.asarray(omega)[:, None] * (1.0 if fit_L else 0.0)
    top = jnp.concatenate([ones, zeros, A_re], axis=1) * jnp.asarray(weight_re)[:, None]
    bot = jnp.concatenate([zeros, wl, A_im], axis=1) * jnp.asarray(weight_im)[:, None]
    return jnp.concatenate([top, bot], axis=0)


class DRTMatrices(NamedTuple):
    """Result of :func:`drt_matrices` for one frequency grid.

    A : (2F, T+2) weighted design matrix, columns [R_inf, L, x];  A_re, A_im : (F, T)
    unweighted blocks;  M : (T, T) penalty;  E : (T_out, T) evaluation matrix;
    weight : (T,) integral of each basis function over ln tau
    """

    A: jax.Array
    A_re: jax.Array
    A_im: jax.Array
    M: jax.Array
    E: jax.Array
    weight: jax.Array


@partial(jax.jit, static_argnames=("basis", "style", "derivative", "toeplitz_trick",
                                   "fit_R_inf", "fit_L", "n_nodes"))
def drt_matrices(log_omega, log_tau, log_tau_out, eps, w_re, w_im, *, basis: str, style: str,
             derivative: int, toeplitz_trick: bool, fit_R_inf: bool, fit_L: bool,
             n_nodes: int = 281):
    """Everything one frequency grid needs, in one compiled call.

    Parameters
    ----------
    log_omega : (F,) ln(rad/s);  log_tau : (T,) basis centres, ascending;
    log_tau_out : (T_out,) where gamma is reported;  eps : Gaussian shape factor
    w_re, w_im : (F,) row weights (0 removes a point or a part)
    basis : "gaussian" | "piecewise_linear";  style : "integral" (fastfit) |
    "pydrttools" (its PWL collocation and finite differences);  toeplitz_trick : rebuild
    A and M from their first row/column as pyDRTtools does on nearly log-spaced grids

    Returns
    -------
    DRTMatrices
    """
    if basis == "gaussian":
        A_re, A_im = gaussian_kernels(log_omega, log_tau, eps, n_nodes)
        M = gaussian_penalty(log_tau, eps, derivative)
        if toeplitz_trick:
            A_re = toeplitz(A_re[:, 0], A_re[0, :])
            A_im = toeplitz(A_im[:, 0], A_im[0, :])
            M = toeplitz(M[:, 0], M[0, :])
        E = gaussian_eval(log_tau_out, log_tau, eps)
        weight = jnp.full(log_tau.shape, np.sqrt(np.pi)) / eps
    else:
        if style == "pydrttools":
            A_re, A_im = pwl_collocation_kernels(log_omega, log_tau)
        else:
            A_re, A_im = pwl_kernels(log_omega, log_tau)
        M = pwl_penalty(log_tau, derivative, style)
        E = pwl_eval(log_tau_out, log_tau)
        h = jnp.diff(log_tau)
        weight = 0.5 * (jnp.concatenate([h, jnp.zeros(1)]) + jnp.concatenate([jnp.zeros(1), h]))
    A = stack_system(A_re, A_im, jnp.exp(log_omega), w_re, w_im, fit_R_inf, fit_L)
    return DRTMatrices(A=A, A_re=A_re, A_im=A_im, M=M, E=E, weight=weight)
