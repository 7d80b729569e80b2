"""Linear operators on a log-frequency grid used by the Z-HIT kernel
(:mod:`fastfit.kernels._zhit`): the log-frequency Hilbert kernel and its tail integral,
a not-a-knot cubic spline as a matrix, quadratic end slopes and a tricube local
quadratic smoother.  Grids are (F,) ascending ln w with the first n points live; pure
JAX, float64."""
from __future__ import annotations

import jax.numpy as jnp

__all__ = ["hilbert_kernel", "kernel_tail", "spline", "spline_rows", "end_slope", "smoother"]


def hilbert_kernel(y):
    """(coth y - sign y) / pi, stable: sign(y) 2 / (pi expm1(2|y|)); 0 at y = 0."""
    a = jnp.abs(y)
    safe = jnp.where(a > 0, a, 1.0)
    return jnp.where(a > 0, jnp.sign(y) * 2.0 / (jnp.pi * jnp.expm1(2.0 * safe)), 0.0)


def kernel_tail(y):
    """int_y^inf (coth t - 1) dt / pi = -ln(1 - e^(-2y)) / pi  (y > 0)."""
    return -jnp.log1p(-jnp.exp(-2.0 * jnp.maximum(y, 1e-300))) / jnp.pi


def spline(u, n):
    """Not-a-knot cubic spline on the first n points of u: second derivatives Mop (F, F)
    (M = Mop @ y) and interval widths h (F,) (0 beyond the live intervals)."""
    F = u.shape[0]
    i = jnp.arange(F)
    h = jnp.where(i < n - 1, jnp.diff(u, append=u[-1:] + 1.0), 0.0)
    hs = jnp.where(h > 0, h, 1.0)
    hm = jnp.concatenate([hs[:1], hs[:-1]])                      # h_{i-1}
    eye = jnp.eye(F)
    mid = ((i >= 1) & (i <= n - 2))[:, None]
    A = jnp.where(mid, eye * ((hm + hs) / 3.0)[:, None] + jnp.eye(F, k=-1) * (hm / 6.0)[:, None]
                  + jnp.eye(F, k=1) * (hs / 6.0)[:, None], eye)
    Bm = jnp.where(mid, jnp.eye(F, k=1) / hs[:, None] - eye * (1 / hm + 1 / hs)[:, None]
                   + jnp.eye(F, k=-1) / hm[:, None], 0.0)
    # not-a-knot: the third derivative is continuous at the second and the last-but-one point
    h0, h1 = hs[0], hs[1]
    row0 = h1 * eye[0] - (h0 + h1) * eye[1] + h0 * eye[2]
    a, b = hs[n - 3], hs[n - 2]
    rowl = b * eye[n - 3] - (a + b) * eye[n - 2] + a * eye[n - 1]
    A = A.at[0].set(row0)
    A = jnp.where((i == n - 1)[:, None], rowl[None, :], A)
    Mop = jnp.linalg.solve(A, Bm)
    return Mop, h


def spline_rows(u, n, Mop, h, x):
    """(len(x), F) rows giving the spline (second derivatives Mop, widths h) at the
    abscissae x (inside [u_0, u_{n-1}])."""
    F = u.shape[0]
    eye = jnp.eye(F)
    j = jnp.clip(jnp.searchsorted(u, x, side="right") - 1, 0, n - 2)
    hj = jnp.where(h[j] > 0, h[j], 1.0)
    b = jnp.clip((x - u[j]) / hj, 0.0, 1.0)
    a = 1.0 - b
    return (a[:, None] * eye[j] + b[:, None] * eye[j + 1]
            + ((a ** 3 - a)[:, None] * Mop[j] + (b ** 3 - b)[:, None] * Mop[j + 1])
            * hj[:, None] ** 2 / 6.0)


def end_slope(u, n, at_end, smooth_span):
    """Row r with r @ y = slope at one end of a quadratic least-squares fit to the points
    within smooth_span (ln w) of that end (at least 3)."""
    F = u.shape[0]
    i = jnp.arange(F)
    live = i < n
    x0 = jnp.where(at_end, u[n - 1], u[0])
    x = u - x0
    near = jnp.abs(x) <= smooth_span
    rank = jnp.where(at_end, n - 1 - i, i)
    sel = live & (near | (rank < 3))
    X = jnp.stack([jnp.ones(F), x, x * x], axis=1) * sel[:, None]
    G = X.T @ X
    return jnp.linalg.solve(G, X.T)[1]


def smoother(u, n, width):
    """Local quadratic regression with tricube weights of half-width ``width`` (ln w), as a
    matrix (identity for width <= 0)."""
    F = u.shape[0]
    live = jnp.arange(F) < n
    d = u[None, :] - u[:, None]                                  # (target, source)
    # at least 3 neighbours inside every window (the fit is a quadratic)
    third = jnp.sort(jnp.where(live[None, :], jnp.abs(d), jnp.inf), axis=1)[:, 3]
    wdt = jnp.maximum(width, 1.5 * jnp.where(jnp.isfinite(third), third, 1.0))[:, None]
    w = jnp.clip(1.0 - jnp.abs(d / wdt) ** 3, 0.0, None) ** 3 * live[None, :]
    X = jnp.stack([jnp.ones_like(d), d, d * d], axis=2)          # (F, F, 3)
    G = jnp.einsum("tsa,ts,tsb->tab", X, w, X) + 1e-12 * jnp.eye(3)
    rows = jnp.linalg.solve(G, jnp.einsum("tsa,ts->tas", X, w))[:, 0, :]
    S = jnp.where(live[:, None] & (width > 0), rows, jnp.eye(F))
    return jnp.where(live[None, :] | ~live[:, None], S, 0.0)
