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
  end slope of a local quadratic fit (0.8 ln-units).  At the high-frequency end a
  capacitive phase (phi_end < 0) is continued as the flank of an R0 + ZARC fitted to the
  phase over the last 0.6 decade (``_zhit_ends._flank``: 6 spline samples, Levenberg-Marquardt,
  scaled to keep phi_end, integrated on 48 nodes of its own); where that fit does not
  apply (flat phase, non-finite or worse fit) a phase moving towards 0 more slowly than
  an arc's flank is continued as ``(phi_end + b v) exp(-0.9 v)`` (value and slope
  matched; see ``_zhit_ends._continuation``).  Interior points are then within ~0.3 % of the exact
  modulus for spectra whose features lie inside the measured range; the end points
  depend on that continuation (measured in tests/test_zhit.py: 0.5 % at every point for
  100.0 % of random two/three-arc and Warburg spectra with time constants 1-1.5 decades
  inside, 1,200-2,000 per family and distance, except 99.9 % for Warburg at 1 decade,
  whose misses are at the low end; 97.8-99.9 % with the damped linear rule alone).

Everything up to the continuation is linear in phi, so one frequency grid gives one
matrix and a batch costs one matrix product; the flank fit is a fixed number of
elementwise LM iterations over the whole batch.  No Python loop over spectra.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._lngrid import end_slope, hilbert_kernel, kernel_tail, smoother, spline, spline_rows
from ._zhit_ends import (_EXT_L, _FLANK_K, _FLANK_N, _FLANK_SPAN, _KAPPA, _N_EXT, _N_KAP, _SPAN,
                         ends)

__all__ = ["ZHITOperator", "ZHITOut", "zhit_operators", "zhit_reconstruct", "ZHIT_CORRECTIONS"]

ZHIT_CORRECTIONS = {"none": 0, "first": 1, "exact": 2}
_REFINE = 8           # fine quadrature nodes per data interval
_NOISE_WIDTH = 0.576  # smallest half-width (ln w, 0.25 decade) of the noise estimate's smoother


class ZHITOperator(NamedTuple):
    """Z-HIT of one frequency grid (F points, live first; fields with a leading G axis
    when built for G grids by :func:`zhit_operators`).

    A0 : (F, F), ln|Z|_rec = A0 @ phi + (continuation beyond the ends) + offset
    V : (4, F), rows giving (phi_low, outward slope at the low end, phi_high, outward
        slope at the high end) of the smoothed phase
    P_l, P_r : (F, N_KAP) the continuation integral of exp(-kappa v) beyond each end at
        the table's kappa nodes (quadrature + far tail);  dP_l, dP_r : (F, N_KAP) its
        kappa derivative;  S_l, S_r : (F,) the same integral of 1;  c_l, c_r : (F,)
        weight of the coincident end node;  SP_*, SdP_*, Sc_* : Sr @ P_*, Sr @ dP_*,
        Sr @ c_* (the residual smoother applied to the tables, for the noise gain)
    Sr : (F, F) residual smoother;  Sn : (F, F) smoother of the noise estimate;
    SrA0 : Sr @ A0;  C : SrA0 @ V^T (F, 4);  VV : V V^T
    dof : scalar, expected ||(I - Sn) r||^2 / sigma^2 for white noise of std sigma in
        ln|Z| and in the phase (the noise estimate's normaliser)
    Wf : (_FLANK_K, F) rows giving the smoothed phase's spline at the flank-fit samples,
        the first at the last point;  vk : (_FLANK_K,) their ln-w offsets from it (<= 0)
    Kf : (F, _FLANK_N) quadrature of int k(x + v) g(v) dv over the flank's continuation
        nodes (x = u_end - u_i; the far tail beyond _EXT_L folded into the last column);
        cf : (F,) its coincident end node weight;  SKf, Scf, SS_r : Sr @ Kf, Sr @ cf,
        Sr @ S_r (for the noise gain)
    """

    A0: jax.Array
    V: jax.Array
    P_l: jax.Array
    P_r: jax.Array
    dP_l: jax.Array
    dP_r: jax.Array
    S_l: jax.Array
    S_r: jax.Array
    c_l: jax.Array
    c_r: jax.Array
    SP_l: jax.Array
    SP_r: jax.Array
    SdP_l: jax.Array
    SdP_r: jax.Array
    Sc_l: jax.Array
    Sc_r: jax.Array
    Sr: jax.Array
    Sn: jax.Array
    SrA0: jax.Array
    C: jax.Array
    VV: jax.Array
    dof: jax.Array
    Wf: jax.Array
    vk: jax.Array
    Kf: jax.Array
    cf: jax.Array
    SKf: jax.Array
    Scf: jax.Array
    SS_r: jax.Array


class ZHITOut(NamedTuple):
    """Result of :func:`zhit_reconstruct` (B, F each): ``ln_rec`` ln of the reconstructed
    modulus / ohm; ``decision`` the smoothed relative residuals (|Z| - |Z|_rec) / |Z|
    (NaN at dead entries); ``tolerance`` max(max_rel, significance x noise x gain), gain
    the std of ``decision`` per unit noise std (linearised; NaN at dead entries);
    ``noise`` (B,) estimated noise std of ln|Z| (and of the phase, rad)."""

    ln_rec: jax.Array
    decision: jax.Array
    tolerance: jax.Array
    noise: jax.Array


def _one_operator(u, n, width, res_width, correction):
    """ZHITOperator fields of one grid (u: (F,) ascending ln w, live points first)."""
    F = u.shape[0]
    i = jnp.arange(F)
    live = i < n
    Mop, h = spline(u, n)
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
         + ((a ** 3 - a)[:, None] * Mop[jj]
            + (b ** 3 - b)[:, None] * Mop[jnp.minimum(jj + 1, F - 1)])
         * hj[:, None] ** 2 / 6.0)
    x = u[jj] + tt * hj
    sub = jnp.where(seg_live, hj / _REFINE, 0.0)                     # width after the node
    before = jnp.concatenate([jnp.zeros(1), sub[:-1]])
    wq = jnp.where(node_live, 0.5 * (sub + before), 0.0)
    coinc = (jj[None, :] == i[:, None]) & (tt[None, :] == 0.0)      # node at the point itself
    k = hilbert_kernel(u[:, None] - x[None, :]) * wq[None, :]
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

    kap = jnp.linspace(*_KAPPA, _N_KAP)
    ev = jnp.exp(-kap[:, None] * v[None, :])                    # (N_KAP, N_EXT)
    eL = jnp.exp(-kap * _EXT_L)

    def cont(xd):
        """Tables of one end: int k(xd + v) exp(-kappa v) dv (quadrature to _EXT_L, then
        the far tail with the value at _EXT_L), its kappa derivative, int k, c0."""
        kk = hilbert_kernel(xd[:, None] + v[None, :]) * wv[None, :] * on[:, None]
        H = kernel_tail(xd + _EXT_L) * on
        P = kk @ ev.T + H[:, None] * eL[None, :]
        dP = -(kk * v[None, :]) @ ev.T - H[:, None] * (_EXT_L * eL)[None, :]
        return P, dP, jnp.sum(kk, axis=1) + H, jnp.where(xd == 0.0, wv[0], 0.0) * on

    P_l, dP_l, S_l, c_l = cont(jnp.where(live, u - u[0], 1.0))
    P_r, dP_r, S_r, c_r = cont(jnp.where(live, u[n - 1] - u, 1.0))
    # the part of the continuation integrals that is linear in phi(u_i) (-phi_i int k)
    R = R - jnp.diag(S_l - S_r)
    R = R * live[:, None] * live[None, :]
    Sm = smoother(u, n, width)
    A0 = R @ Sm
    V = jnp.stack([eye[0], -end_slope(u, n, False, _SPAN), eye[n - 1],
                   end_slope(u, n, True, _SPAN)]) @ Sm
    Sr = smoother(u, n, res_width) * live[:, None]
    SrA0 = Sr @ A0
    Sn = smoother(u, n, jnp.maximum(res_width, _NOISE_WIDTH)) * live[:, None]
    In = (eye - Sn) * live[:, None]
    dof = jnp.sum(In * In) + jnp.sum((In @ A0) ** 2)
    # flank fit at the high end: spline samples over the last _FLANK_SPAN (clipped to the
    # grid), and the quadrature of its continuation on _FLANK_N nodes
    xk = jnp.maximum(u[n - 1] - _FLANK_SPAN * jnp.arange(_FLANK_K) / (_FLANK_K - 1), u[0])
    Wf = spline_rows(u, n, Mop, h, xk) @ Sm
    vf = _EXT_L * (jnp.arange(_FLANK_N) / (_FLANK_N - 1)) ** 2
    dvf = jnp.diff(vf)
    wf = 0.5 * (jnp.concatenate([dvf, jnp.zeros(1)]) + jnp.concatenate([jnp.zeros(1), dvf]))
    xr = jnp.where(live, u[n - 1] - u, 1.0)
    Kf = hilbert_kernel(xr[:, None] + vf[None, :]) * wf[None, :]
    Kf = (Kf.at[:, -1].add(kernel_tail(xr + _EXT_L))) * on[:, None]
    cf = jnp.where(xr == 0.0, wf[0], 0.0) * on
    return ZHITOperator(A0, V, P_l, P_r, dP_l, dP_r, S_l, S_r, c_l, c_r, Sr @ P_l, Sr @ P_r,
                        Sr @ dP_l, Sr @ dP_r, Sr @ c_l, Sr @ c_r, Sr, Sn, SrA0,
                        SrA0 @ V.T, V @ V.T, dof, Wf, xk - u[n - 1], Kf, cf, Sr @ Kf,
                        Sr @ cf, Sr @ S_r)


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


@jax.jit
def zhit_reconstruct(ops: ZHITOperator, g, phase, ln_mod, ref_weight, max_rel,
                     significance) -> ZHITOut:
    """Z-HIT of spectra that share one grid: reconstructed modulus, residuals, the
    smoothed residuals and the tolerance they are compared with.

    Parameters
    ----------
    ops : ZHITOperator of G grids (leading axis, as from :func:`zhit_operators`)
    g : int, which grid (traced: one program for every grid of the batch)
    phase : (B, F) float64, rad, arg Z on the grid's points (dead entries ignored)
    ln_mod : (B, F) float64, ln of the measured |Z| / ohm (dead entries ignored)
    ref_weight : (B, F) or (1, F) float64, weights of the offset fit (0 outside the
        reference window; one row when every spectrum has the same)
    max_rel, significance : scalars, the tolerance max(max_rel, significance noise gain)

    Returns
    -------
    ZHITOut.  ln|Z|_rec = C + A0 phi + continuation, C the weighted mean of ln|Z| minus
    the rest over the reference points.  The noise std is estimated from the roughness of
    the ln residual r = ln|Z| - ln|Z|_rec, sigma^2 = ||(I - Sn) r||^2 / dof; the gain is
    the std of the smoothed residual per unit sigma for white noise of that std in ln|Z|
    and in the phase, through the offset and the (linearised) continuation.
    """
    op = jax.tree_util.tree_map(lambda a: a[g], ops)
    live = jnp.sum(jnp.abs(op.Sr), axis=1) > 0                    # (F,)
    ph = jnp.where(live, jnp.asarray(phase, jnp.float64), 0.0)
    lm = jnp.where(live, jnp.asarray(ln_mod, jnp.float64), 0.0)
    w = jnp.asarray(ref_weight, jnp.float64)                      # (B, F) or (1, F)
    pd = ph @ op.V.T                                               # (B, 4)
    cont, U, SU = ends(op, pd, ph)                                    # (B, F), 4 x (B, F) x 2
    rec = ph @ op.A0.T + cont
    wn = w / jnp.maximum(jnp.sum(w, axis=1, keepdims=True), 1e-300)
    rec = rec + jnp.sum(wn * (lm - rec), axis=1, keepdims=True)
    r = jnp.where(live, lm - rec, 0.0)
    decision = -jnp.expm1(-r) @ op.Sr.T
    rough = r - r @ op.Sn.T
    noise = jnp.sqrt(jnp.sum(rough * rough, axis=1) / op.dof)
    # gain: rows of Sr P (noise in ln|Z|) and Sr P A_b (noise in the phase), with
    # P = I - 1 wn^T (offset) and A_b = A0 + U_b V; a = wn^T A_b.  Terms in wn alone are
    # computed once when the reference weights are shared ((1, F))
    s = jnp.sum(op.Sr, axis=1)
    Srw = wn @ op.Sr.T
    g_m = jnp.sum(op.Sr ** 2, axis=1) - 2 * s * Srw + s * s * jnp.sum(wn * wn, axis=1,
                                                                       keepdims=True)
    # written per column k of U (four (B, F) arrays) so that XLA fuses the elementwise
    # work instead of materialising (B, F, 4) intermediates (2/3 of the time otherwise)
    Uw = [jnp.sum(u * wn, axis=1) for u in U]                     # 4 x (B,)
    a0 = wn @ op.A0
    a = a0 + sum(Uw[k][:, None] * op.V[k][None, :] for k in range(4))
    a_Sr = a0 @ op.SrA0.T + sum(Uw[k][:, None] * op.C[:, k][None, :] for k in range(4))
    a0V = a0 @ op.V.T
    aV = [a0V[:, k] + sum(Uw[m] * op.VV[m, k] for m in range(4)) for k in range(4)]
    n0 = jnp.sum(op.SrA0 ** 2, axis=1)
    # diag(SU VV SU^T) + 2 diag(SU C^T) - 2 s SU aV^T
    quad = sum(SU[k] * (sum(SU[m] * op.VV[m, k] for m in range(4)) + 2 * op.C[:, k][None, :]
                        - 2 * s[None, :] * aV[k][:, None]) for k in range(4))
    g_p = n0 + quad + s * s * jnp.sum(a * a, axis=1, keepdims=True) - 2 * s * a_Sr
    gain = jnp.sqrt(jnp.maximum(g_m + g_p, 0.0))
    tol = jnp.maximum(max_rel, significance * noise[:, None] * gain)
    # (transcendental functions on whole arrays -- arg, log, exp -- are left to numpy,
    # whose vectorised versions are ~4x faster than XLA's on CPU)
    return ZHITOut(rec, jnp.where(live, decision, jnp.nan), jnp.where(live, tol, jnp.nan),
                   noise)
