"""Batched Z-HIT: the impedance modulus reconstructed from the phase.

For a minimum-phase immittance (every passive, causal, KK-compliant impedance), ln Z(w) is
analytic and its real part ln|Z| follows from its imaginary part, the phase phi, on the
log-frequency axis u = ln w (Bode's gain-phase relation; Ehm, Göhr, Kaus, Röseler, Schiller,
ACH-Models Chem. 137 (2000) 145; Schiller, Richter, Gülzow, Wagner, PCCP 3 (2001) 374,
doi:10.1039/b007678n)::

    ln|Z(u0)| = C + (2/pi) int_{u_s}^{u0} phi du  +  (1/pi) PV int k(u0 - u) phi(u) du,
    k(v) = coth(v) - sign(v)

The first term is the Z-HIT integral.  Expanding the smooth, exponentially decaying kernel
in moments gives the familiar local corrections: (1/pi) int k(v) phi(u0 - v) dv =
-(pi/6) dphi/du - (pi^3/360) d^3phi/du^3 - ...  (the Fourier multiplier of the whole
transform is -i coth(pi xi / 2) = -i [2/(pi xi) + pi xi/6 - pi^3 xi^3/360 + ...]), so the
classic second-order Z-HIT ``gamma dphi/dln w`` with gamma = -pi/6 is its first term.

Two corrections are offered (``correction``):

* ``"first"`` -- gamma = -pi/6 times the phase slope (Ehm et al. 2000).  On an ideal RC arc
  its truncation error reaches ~3 % in |Z|.
* ``"exact"`` -- the whole kernel, integrated numerically (trapezoid rule on a grid
  ``refine`` times finer than the data, phase interpolated by a not-a-knot cubic spline,
  the coincident node replaced by its limit -phi'/pi).  The kernel decays like 2 e^(-2|v|),
  so beyond about a decade from the point only the trend matters: outside the measured
  range the phase is continued as ``lim + (phi_end - lim) exp(-kappa v)`` (v the distance
  beyond the end in ln w), relaxing towards 0 when the phase moves towards 0 at that end
  and otherwise towards the next of +-pi/4 (diffusion) and +-pi/2, with kappa matching the
  end slope of a local quadratic fit (0.8 ln-units).  Interior points are then within ~0.3 % of the exact modulus for spectra
  whose features lie inside the measured range; the end points depend on that continuation.

Everything up to the continuation is linear in phi, so one frequency grid gives one
matrix and a batch costs one matrix product.  No Python loop over spectra.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ZHITOperator", "ZHITOut", "zhit_operators", "zhit_reconstruct", "ZHIT_CORRECTIONS"]

ZHIT_CORRECTIONS = {"none": 0, "first": 1, "exact": 2}
_REFINE = 8           # fine quadrature nodes per data interval
_SPAN = 0.8           # ln-w span of the end fits (slope of the continuation)
_EXT_L = 6.0          # continuation integrated numerically up to this distance (ln w)
_N_EXT = 96           # continuation nodes (quadratic spacing, fine near the end)
_KAPPA = (0.0, 5.0)   # clip of the continuation's decay rate (1 / ln-w unit)
_NOISE_WIDTH = 0.576  # smallest half-width (ln w, 0.25 decade) of the noise estimate's smoother


class ZHITOperator(NamedTuple):
    """Z-HIT of one frequency grid (F points, live first; fields with a leading G axis
    when built for G grids by :func:`zhit_operators`).

    A0 : (F, F), ln|Z|_rec = A0 @ phi + (continuation beyond the ends) + offset
    V : (4, F), rows giving (phi_low, outward slope at the low end, phi_high, outward
        slope at the high end) of the smoothed phase
    K_l, K_r : (F, N_EXT) quadrature weight x kernel of the continuation nodes ``v``;
    c_l, c_r : (F,) weight of the coincident end node;  H_l, H_r : (F,) far-tail weights
    v : (N_EXT,) continuation nodes (ln w beyond the end)
    Sr : (F, F) residual smoother;  Sn : (F, F) smoother of the noise estimate;  SrA0 : Sr @ A0;  C : SrA0 @ V^T (F, 4);  VV : V V^T
    dof : scalar, expected ||(I - Sn) r||^2 / sigma^2 for white noise of std sigma in
        ln|Z| and in the phase (the noise estimate's normaliser)
    """

    A0: jax.Array
    V: jax.Array
    K_l: jax.Array
    K_r: jax.Array
    c_l: jax.Array
    c_r: jax.Array
    H_l: jax.Array
    H_r: jax.Array
    v: jax.Array
    Sr: jax.Array
    Sn: jax.Array
    SrA0: jax.Array
    C: jax.Array
    VV: jax.Array
    dof: jax.Array


class ZHITOut(NamedTuple):
    """Result of :func:`zhit_reconstruct` (B, F each): ``ln_rec`` ln of the reconstructed
    modulus / ohm; ``decision`` smoothed relative residuals (|Z| - |Z|_rec) / |Z|;
    ``noise`` (B,) estimated noise std of ln|Z| (and of the phase, rad); ``gain`` (B, F)
    std of ``decision`` per unit noise std (linearised)."""

    ln_rec: jax.Array
    decision: jax.Array
    noise: jax.Array
    gain: jax.Array


def _kern(y):
    """(coth y - sign y) / pi, stable: sign(y) 2 / (pi expm1(2|y|)); 0 at y = 0."""
    a = jnp.abs(y)
    safe = jnp.where(a > 0, a, 1.0)
    return jnp.where(a > 0, jnp.sign(y) * 2.0 / (jnp.pi * jnp.expm1(2.0 * safe)), 0.0)


def _tail(y):
    """int_y^inf (coth t - 1) dt / pi = -ln(1 - e^(-2y)) / pi  (y > 0)."""
    return -jnp.log1p(-jnp.exp(-2.0 * jnp.maximum(y, 1e-300))) / jnp.pi


def _spline(u, n):
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


def _end_slope(u, n, at_end, smooth_span):
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


def _smoother(u, n, width):
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


def _one_operator(u, n, width, res_width, correction):
    """ZHITOperator fields of one grid (u: (F,) ascending ln w, live points first)."""
    F = u.shape[0]
    i = jnp.arange(F)
    live = i < n
    Mop, h = _spline(u, n)
    eye = jnp.eye(F)
    # exact integral of the spline over each interval, accumulated: I @ y = int_{u_0}^{u_i}
    nxt = jnp.minimum(i + 1, F - 1)
    seg = (h[:, None] * (eye + eye[nxt]) / 2.0
           - h[:, None] ** 3 * (Mop + Mop[nxt]) / 24.0)              # (F, F) per interval
    Iop = jnp.concatenate([jnp.zeros((1, F)), jnp.cumsum(seg, axis=0)[:-1]])
    # slope at every point (right interval; left interval at the last point)
    hs = jnp.where(h > 0, h, 1.0)
    right = (eye[nxt] - eye) / hs[:, None] - hs[:, None] * (2 * Mop + Mop[nxt]) / 6.0
    prv = jnp.maximum(i - 1, 0)
    hp = hs[prv]
    left = (eye - eye[prv]) / hp[:, None] + hp[:, None] * (Mop[prv] + 2 * Mop) / 6.0
    D = jnp.where((i == n - 1)[:, None], left, right)
    # fine nodes: interval j, fraction t = s / _REFINE (dead intervals: t = 0, weight 0)
    t = jnp.arange(_REFINE) / _REFINE
    jj = jnp.repeat(i, _REFINE)
    tt = jnp.tile(t, F)
    seg_live = jj < n - 1
    tt = jnp.where(seg_live, tt, 0.0)
    node_live = seg_live | ((jj == n - 1) & (tt == 0.0))
    a, b = 1.0 - tt, tt
    hj = h[jj]
    S = (a[:, None] * eye[jj] + b[:, None] * eye[jnp.minimum(jj + 1, F - 1)]
         + ((a ** 3 - a)[:, None] * Mop[jj] + (b ** 3 - b)[:, None] * Mop[jnp.minimum(jj + 1, F - 1)])
         * hj[:, None] ** 2 / 6.0)
    x = u[jj] + tt * hj
    sub = jnp.where(seg_live, hj / _REFINE, 0.0)                     # width after the node
    before = jnp.concatenate([jnp.zeros(1), sub[:-1]])
    wq = jnp.where(node_live, 0.5 * (sub + before), 0.0)
    coinc = (jj[None, :] == i[:, None]) & (tt[None, :] == 0.0)      # node at the point itself
    k = _kern(u[:, None] - x[None, :]) * wq[None, :]
    k = jnp.where(coinc, 0.0, k)
    T = k @ S - jnp.sum(k, axis=1)[:, None] * eye
    T = T + jnp.sum(jnp.where(coinc, wq[None, :], 0.0), axis=1)[:, None] * (-D / jnp.pi)
    R = (2.0 / jnp.pi) * Iop
    R = jnp.where(correction == 1, R - (jnp.pi / 6.0) * D, R)
    R = jnp.where(correction == 2, R + T, R)
    # continuation nodes beyond each end (quadratic spacing)
    v = _EXT_L * (jnp.arange(_N_EXT) / (_N_EXT - 1)) ** 2
    dv = jnp.diff(v)
    wv = 0.5 * (jnp.concatenate([dv, jnp.zeros(1)]) + jnp.concatenate([jnp.zeros(1), dv]))
    on = (correction == 2) & live

    def cont(xd):
        kk = _kern(xd[:, None] + v[None, :]) * wv[None, :]
        c0 = jnp.where(xd == 0.0, wv[0], 0.0)
        return kk * on[:, None], c0 * on, _tail(xd + _EXT_L) * on

    K_l, c_l, H_l = cont(jnp.where(live, u - u[0], 1.0))
    K_r, c_r, H_r = cont(jnp.where(live, u[n - 1] - u, 1.0))
    # the part of the continuation integrals that is linear in phi(u_i) (-phi_i int k)
    R = R - jnp.diag(jnp.sum(K_l, axis=1) + H_l - jnp.sum(K_r, axis=1) - H_r)
    R = R * live[:, None] * live[None, :]
    Sm = _smoother(u, n, width)
    A0 = R @ Sm
    V = jnp.stack([eye[0], -_end_slope(u, n, False, _SPAN), eye[n - 1],
                   _end_slope(u, n, True, _SPAN)]) @ Sm
    Sr = _smoother(u, n, res_width) * live[:, None]
    SrA0 = Sr @ A0
    Sn = _smoother(u, n, jnp.maximum(res_width, _NOISE_WIDTH)) * live[:, None]
    In = (eye - Sn) * live[:, None]
    dof = jnp.sum(In * In) + jnp.sum((In @ A0) ** 2)
    return ZHITOperator(A0, V, K_l, K_r, c_l, c_r, H_l, H_r, v, Sr, Sn, SrA0, SrA0 @ V.T,
                        V @ V.T, dof)


@jax.jit
def zhit_operators(log_omega, n_live, width, res_width, correction) -> ZHITOperator:
    """Operators of G frequency grids (fields with a leading G axis).

    Parameters
    ----------
    log_omega : (G, F) float64, ln(rad/s), ascending over the first ``n_live`` entries
        (entries beyond are ignored but must keep the row increasing)
    n_live : (G,) int, live points per grid (>= 5)
    width : scalar float, half-width of the phase smoother in ln w (<= 0: none)
    res_width : scalar float, half-width of the residual smoother in ln w (<= 0: none)
    correction : scalar int, ``ZHIT_CORRECTIONS`` code

    Returns
    -------
    ZHITOperator
    """
    u = jnp.asarray(log_omega, jnp.float64)
    w, rw = jnp.asarray(width, jnp.float64), jnp.asarray(res_width, jnp.float64)
    c = jnp.asarray(correction)
    return jax.vmap(lambda uu, nn: _one_operator(uu, nn, w, rw, c))(u, n_live)


def _continuation(p0, d):
    """lim, gap, kappa of phi(v) = lim + gap exp(-kappa v) beyond an end with value p0 and
    outward slope d: the phase relaxes towards the next of 0, +-pi/4 (diffusion),
    +-pi/2 in the direction it is moving (0 when it moves towards 0), with the
    initial slope d."""
    p0 = jnp.clip(p0, -0.5 * jnp.pi, 0.5 * jnp.pi)
    towards_zero = d * p0 < 0
    side = jnp.where(p0 != 0, jnp.sign(p0), jnp.sign(d))
    a = jnp.abs(p0)
    nxt = jnp.where(a < 0.25 * jnp.pi, 0.25 * jnp.pi, 0.5 * jnp.pi)
    lim = jnp.where(towards_zero, 0.0, side * nxt)
    gap = p0 - lim
    safe = jnp.where(gap != 0, gap, 1.0)
    kappa = jnp.clip(jnp.where(gap != 0, -d / safe, 0.0), *_KAPPA)
    return lim, gap, kappa


def _ends(op, pd):
    """Continuation terms (F,) of one spectrum from pd = (p_l, d_l, p_r, d_r)."""
    out = 0.0
    for p0, d, K, c0, H, sgn in ((pd[0], pd[1], op.K_l, op.c_l, op.H_l, 1.0),
                                 (pd[2], pd[3], op.K_r, op.c_r, op.H_r, -1.0)):
        lim, gap, kap = _continuation(p0, d)
        ext = lim + gap * jnp.exp(-kap * op.v)
        out = out + sgn * (K @ ext + c0 * (-kap * gap) / jnp.pi + H * ext[-1])
    return out


@jax.jit
def zhit_reconstruct(op: ZHITOperator, phase, ln_mod, ref_weight) -> ZHITOut:
    """Reconstructed modulus, smoothed residuals and their noise scale for spectra that
    share one grid.

    Parameters
    ----------
    op : ZHITOperator of one grid (no leading axis)
    phase : (B, F) float64, rad, on the grid's points (dead entries ignored)
    ln_mod : (B, F) float64, ln of the measured |Z| / ohm (for the offset)
    ref_weight : (B, F) float64, weights of the offset fit (0 outside the reference window)

    Returns
    -------
    ZHITOut.  ``ln_rec`` = C + A0 phi + continuation, C the weighted mean of ln_mod minus
    the rest over the reference points.  The noise std is estimated from the roughness of
    the ln residual r = ln|Z| - ln_rec, sigma^2 = ||(I - Sn) r||^2 / dof; ``gain`` is the
    std of ``decision`` per unit sigma for white noise of that std in ln|Z| and in the
    phase, through the offset and the (linearised) continuation.
    """
    ph = jnp.asarray(phase, jnp.float64)
    lm = jnp.asarray(ln_mod, jnp.float64)
    w = jnp.asarray(ref_weight, jnp.float64)
    pd = ph @ op.V.T                                               # (B, 4)
    ends = jax.vmap(lambda x: _ends(op, x))(pd)
    U = jax.vmap(jax.jacfwd(lambda x: _ends(op, x)))(pd)           # (B, F, 4)
    rec = ph @ op.A0.T + ends
    wn = w / jnp.maximum(jnp.sum(w, axis=1, keepdims=True), 1e-300)
    rec = rec + jnp.sum(wn * (lm - rec), axis=1, keepdims=True)
    r = lm - rec
    live = jnp.sum(jnp.abs(op.Sr), axis=1) > 0
    r = jnp.where(live, r, 0.0)
    decision = -jnp.expm1(-r) @ op.Sr.T
    rough = r - r @ op.Sn.T
    noise = jnp.sqrt(jnp.sum(rough * rough, axis=1) / op.dof)
    # gain: rows of Sr P (noise in ln|Z|) and Sr P A_b (noise in the phase), with
    # P = I - 1 wn^T (offset) and A_b = A0 + U_b V
    s = jnp.sum(op.Sr, axis=1)
    Srw = wn @ op.Sr.T
    g_m = jnp.sum(op.Sr ** 2, axis=1) - 2 * s * Srw + s * s * jnp.sum(wn * wn, axis=1,
                                                                       keepdims=True)
    SU = jnp.einsum("ij,bjk->bik", op.Sr, U)
    a = wn @ op.A0 + jnp.einsum("bk,kf->bf", jnp.einsum("bfk,bf->bk", U, wn), op.V)
    n0 = jnp.sum(op.SrA0 ** 2, axis=1)
    g_p = (n0 + jnp.einsum("bik,kl,bil->bi", SU, op.VV, SU) + 2 * jnp.einsum("bik,ik->bi", SU, op.C)
           + s * s * jnp.sum(a * a, axis=1, keepdims=True) - 2 * s * (a @ op.SrA0.T)
           - 2 * s * jnp.einsum("bik,bk->bi", SU, a @ op.V.T))
    gain = jnp.sqrt(jnp.maximum(g_m + g_p, 0.0)) * live
    return ZHITOut(rec, decision, noise, gain)
