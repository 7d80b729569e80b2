"""Batched linear Kramers-Kronig test (lin-KK) with automatic choice of M per spectrum.

Model (Schönleber, Klotz, Ivers-Tiffée, Electrochim. Acta 131 (2014) 20-27,
doi:10.1016/j.electacta.2014.01.034, after Boukamp, J. Electrochem. Soc. 142 (1995) 1885,
doi:10.1149/1.2044210)::

    Z_hat(w) = R0 + sum_{k=1..M} R_k / (1 + j w tau_k) + j w L  [+ x_C / (j w)],  x_C = 1/C

with fixed time constants, log-spaced between tau_1 = 1/w_max and tau_M = 1/w_min, so the
model is linear in (R0, R_1..R_M, x_C, L).  Every point is weighted by 1/|Z| (relative
residuals).  M grows from ``min_M`` until the under/over-fitting measure

    mu = 1 - sum_{R_k<0} |R_k| / sum_{R_k>=0} |R_k|

is no longer above c, or M reaches max_M.  Definitions mirror impedance.py's
``validation.linKK`` (v1.7.1): for M = 1 the single tau is 1/w_min; mode "real" fits R0
and R_k to Re(Z), then L (and x_C) to what is left of Im(Z); mode "imag" fits R_k, L (and
x_C) to Im(Z), then R0 as the 1/|Z|^2-weighted mean of what is left of Re(Z) (Boukamp 1995,
eq. 7); mode "complex" fits Re and Im together (Schönleber 2014, eq. 14).

Options are runtime flags, so one compiled program serves every mode: a mode only changes
row weights (Re rows, Im rows) and which columns are zero, and an all-zero column gets
coefficient 0.  Each least-squares problem is solved from its column-scaled normal equations
(built in O(F M) per spectrum from partial fractions, see `_gram`; batched LAPACK Cholesky)
with one step of iterative refinement on the exact residual; this reaches the exact
least-squares optimum (checked against 60-digit arithmetic in the tests) for the
conditioning met at the selected M.  The loop over M is a sequence of ``lax.while_loop``
stages of growing padded width (M <= 12, <= 24, <= width) over chunks of spectra; before
each stage the spectra still running are compacted to the front, so wide stages only see
the few spectra that need them.  No Python loop over spectra.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["LinKKOut", "lin_kk", "kk_tau_grid", "KK_STATUS", "KK_MODES"]

# status codes (the API maps them to fastfit.validation.KKStatus)
KK_STATUS = {
    "MU_REACHED": 1,  # mu <= c at the returned M
    "FIXED_M": 2,     # M fixed by request (impedance.py's c=None)
    "MAX_M": 0,       # mu still > c at M = max_M (budget exhausted; results at max_M)
    "NONFINITE": -1,  # non-finite coefficients or mu
}
KK_MODES = {"complex": 0, "real": 1, "imag": 2}

_JITTER = 1e-13        # added to the unit diagonal of the scaled Gram matrix
_REFINE = 1            # iterative-refinement steps (removes the jitter's bias)
_STAGE_EDGES = (12, 24)


class LinKKOut(NamedTuple):
    """Kernel output (batch axis first).

    M : (B,) int64, number of RC elements used
    mu : (B,) float64
    coef : (B, width + 3) float64: R0 [ohm], R_1..R_width [ohm] (0 beyond M), x_C = 1/C
        [1/F] (0 without capacitance), L [H] (0 without inductance)
    tau : (B, width) float64, s (0 beyond M)
    z_fit : (B, F) complex128, ohm
    status : (B,) int64 (see ``KK_STATUS``)
    cond : (B,) float64, condition estimate of the (first-stage) least-squares problem at M
    """

    M: jax.Array
    mu: jax.Array
    coef: jax.Array
    tau: jax.Array
    z_fit: jax.Array
    status: jax.Array
    cond: jax.Array


def kk_tau_grid(w_min, w_max, M, n_pad: int):
    """Time constants of the lin-KK model, as impedance.py's ``get_tc_distribution``.

    tau_1 = 1/w_max, tau_M = 1/w_min (w = 2 pi f in rad/s; w_min, w_max of shape (B,)),
    tau_k = 10**(log10 tau_1 + (k-1)/(M-1) log10(tau_M/tau_1)); for M = 1 the single time
    constant is 1/w_min.  Returns (B, n_pad), entries beyond M are 0.
    """
    t_min = 1.0 / w_max
    t_max = 1.0 / w_min
    k = jnp.arange(n_pad)
    frac = k.astype(jnp.float64) / jnp.maximum(jnp.asarray(M, jnp.float64) - 1.0, 1.0)
    ts = 10.0 ** (jnp.log10(t_min)[:, None] + frac[None, :] * jnp.log10(t_max / t_min)[:, None])
    ts = jnp.where(k[None, :] == 0, t_min[:, None], ts)
    ts = jnp.where(k[None, :] == M - 1, t_max[:, None], ts)
    return jnp.where(k[None, :] < M, ts, 0.0)


# --------------------------------------------------------------------- least squares
def _gram(kre, tau, omega, w2, a, b, cap_on, ind_on, shared):
    """Column-scaled normal matrix of the lin-KK basis [R0, RC_1..RC_n, C, L] for row-set
    switches a (Re rows) and b (Im rows), built in O(B F n) instead of O(B F n^2).

    With k_p = 1/(1 + j w tau_p) (Re k_p = kre_p, Im k_p = -w tau_p kre_p), partial fractions
    give, for tau_p != tau_q,

        Re k_p Re k_q + Im k_p Im k_q = (tau_p kre_p + tau_q kre_q) / (tau_p + tau_q)
        Re k_p Re k_q - Im k_p Im k_q = (tau_p kre_p - tau_q kre_q) / (tau_p - tau_q)

    so every RC-RC entry follows from S_p = sum_f w2 kre_p, the diagonal from
    Q_p = sum_f w2 kre_p^2 (Im k_p^2 = kre_p - kre_p^2), and the cross terms R0-RC = S_p,
    C-RC = tau_p S_p, L-RC = -tau_p T_p with T_p = sum_f w2 w^2 kre_p.  Rounding in the
    differences perturbs G slightly; the refinement in `_lsq` uses the exact residual, so
    the solution is unaffected.

    Returns Gs = diag(s) G diag(s) with unit diagonal (+ _JITTER) where live, 1 on dead
    (all-zero) columns, and s (B, P) (0 on dead columns).
    """
    n = kre.shape[-1]
    if shared:
        S = w2 @ kre                                   # (B, n)
        Q = w2 @ (kre * kre)
        T = w2 @ (omega[:, None] ** 2 * kre)
        om = omega[None, :]
    else:
        S = jnp.einsum("bf,bfp->bp", w2, kre)
        Q = jnp.einsum("bf,bfp->bp", w2, kre * kre)
        T = jnp.einsum("bf,bfp->bp", w2 * omega ** 2, kre)
        om = omega
    B = S.shape[0]
    W0 = jnp.sum(w2, axis=1, keepdims=True)
    Wc = jnp.sum(w2 / om ** 2, axis=1, keepdims=True)
    Wl = jnp.sum(w2 * om ** 2, axis=1, keepdims=True)
    c, l = b * cap_on, b * ind_on
    d = jnp.concatenate([a * W0, a * Q + b * (S - Q), c * Wc, l * Wl], axis=1)   # diag(G)
    live = d > 0
    s = jnp.where(live, 1.0 / jnp.sqrt(jnp.where(live, d, 1.0)), 0.0)
    s0, sr, sc, sl = s[:, :1], s[:, 1:n + 1], s[:, n + 1:n + 2], s[:, n + 2:]
    tau = jnp.broadcast_to(tau, (B, n))
    tp, tq = tau[:, :, None], tau[:, None, :]
    up, uq = (tau * S)[:, :, None], (tau * S)[:, None, :]
    pair = (tp > 0) & (tq > 0) & ~jnp.eye(n, dtype=bool)
    U = (up + uq) / jnp.where(pair, tp + tq, 1.0)
    V = (up - uq) / jnp.where(pair, tp - tq, 1.0)
    rc = jnp.where(pair, 0.5 * (a + b) * U + 0.5 * (a - b) * V, 0.0)
    rc = rc * sr[:, :, None] * sr[:, None, :]
    rc = rc + jnp.eye(n) * jnp.where(sr > 0, 1.0 + _JITTER, 1.0)[:, :, None]
    x0 = a * S * sr * s0                                 # R0-RC
    xc = c * tau * S * sr * sc                           # C-RC
    xl = -l * tau * T * sr * sl                          # L-RC
    cl = -c * ind_on * W0 * sc * sl                      # C-L
    one = lambda m: jnp.where(m > 0, 1.0 + _JITTER, 1.0)  # noqa: E731
    z = jnp.zeros((B, 1))
    row0 = jnp.concatenate([one(s0), x0, z, z], axis=1)
    rowc = jnp.concatenate([z, xc, one(sc), cl], axis=1)
    rowl = jnp.concatenate([z, xl, cl, one(sl)], axis=1)
    mid = jnp.concatenate([x0[:, :, None], rc, xc[:, :, None], xl[:, :, None]], axis=2)
    Gs = jnp.concatenate([row0[:, None, :], mid, rowc[:, None, :], rowl[:, None, :]], axis=1)
    return Gs, s


def _apply(K, x, shared):
    """K x per spectrum -> (B, F)."""
    return x @ K.T if shared else jnp.einsum("bfp,bp->bf", K, x)


def _apply_t(K, v, shared):
    """K^T v per spectrum -> (B, P)."""
    return v @ K if shared else jnp.einsum("bfp,bf->bp", K, v)


def _chol_solve(Lc, rhs):
    z = lax.linalg.triangular_solve(Lc, rhs[..., None], left_side=True, lower=True)
    return lax.linalg.triangular_solve(Lc, z, left_side=True, lower=True, transpose_a=True)[..., 0]


def _lsq(Kre, Kim, Gs, s, w2, a, b, zr, zi, shared):
    """min_x sum_f w2 [a (Kre x - zr)^2 + b (Kim x - zi)^2] for every spectrum (a, b
    scalar 0/1 row-set switches; Gs, s the scaled normal matrix and scaling from `_gram`);
    all-zero columns get x = 0.

    Cholesky of Gs, then _REFINE refinement steps x += S Gs^-1 S K^T W (z - K x) with the
    exact residual.  Returns x (B, P) and cond (B,) = (max/min diagonal of the Cholesky
    factor)^2, a cheap lower estimate of the condition number of Gs (above ~1e10 the
    problem is numerically rank deficient and the solution is jitter-regularised).
    """
    Lc = lax.linalg.cholesky(Gs, symmetrize_input=False)

    def rhs(rr, ri):
        return s * (_apply_t(Kre, a * w2 * rr, shared) + _apply_t(Kim, b * w2 * ri, shared))

    x = s * _chol_solve(Lc, rhs(zr, zi))
    for _ in range(_REFINE):
        x = x + s * _chol_solve(Lc, rhs(zr - _apply(Kre, x, shared), zi - _apply(Kim, x, shared)))
    dL = jnp.diagonal(Lc, axis1=1, axis2=2)
    cond = (jnp.max(dL, axis=1) / jnp.min(dL, axis=1)) ** 2
    return x, cond


def _lsq2(a1, a2, W2, b):
    """Closed-form weighted least squares with two columns a1, a2 (B, F); zero columns -> 0.

    Scaled 2x2 normal equations by Cramer's rule plus one refinement step.
    """
    g11 = jnp.sum(W2 * a1 * a1, axis=1)
    g22 = jnp.sum(W2 * a2 * a2, axis=1)
    l1, l2 = g11 > 0, g22 > 0
    s1 = jnp.where(l1, 1.0 / jnp.sqrt(jnp.where(l1, g11, 1.0)), 0.0)
    s2 = jnp.where(l2, 1.0 / jnp.sqrt(jnp.where(l2, g22, 1.0)), 0.0)
    c = jnp.sum(W2 * a1 * a2, axis=1) * s1 * s2               # scaled off-diagonal, |c| < 1
    det = jnp.maximum(1.0 - c * c, 1e-300)

    def solve(r):
        y1 = s1 * jnp.sum(W2 * a1 * r, axis=1)
        y2 = s2 * jnp.sum(W2 * a2 * r, axis=1)
        u1 = (y1 - c * y2) / det
        u2 = (y2 - c * y1) / det
        return s1 * u1, s2 * u2

    x1, x2 = solve(b)
    d1, d2 = solve(b - x1[:, None] * a1 - x2[:, None] * a2)
    return x1 + d1, x2 + d2


# ---------------------------------------------------------------------------- one M
def _fit_M(omega, zr, zi, w, w_min, w_max, M, n_pad, opt, shared):
    """Fit every spectrum with M RC elements (padded to n_pad columns).

    omega is (F,) when ``shared`` (same grid and used range for all spectra), else (B, F).
    ``opt``: traced flags (mode, cap, ind).  Returns coef (B, n_pad + 3), tau (B, n_pad),
    mu (B,), cond (B,) (see ``_lsq``).
    """
    B, F = zr.shape
    if shared:
        tau = kk_tau_grid(w_min[:1], w_max[:1], M, n_pad)
        x = omega[:, None] * tau                                    # (F, n_pad)
        lead = (F,)
    else:
        tau = kk_tau_grid(w_min, w_max, M, n_pad)
        x = omega[:, :, None] * tau[:, None, :]                     # (B, F, n_pad)
        lead = (B, F)
    mode, cap_on, ind_on = opt
    is_r, is_i = mode == 1, mode == 2
    act = jnp.arange(n_pad) < M
    den = 1.0 + x * x
    kre = jnp.where(act, 1.0 / den, 0.0)
    kim = jnp.where(act, -x / den, 0.0)
    zero = jnp.zeros(lead + (1,))
    r0col = jnp.ones(lead + (1,))
    capcol = (-1.0 / omega)[..., None] * cap_on
    indcol = omega[..., None] * ind_on
    Kre = jnp.concatenate([r0col, kre, zero, zero], axis=-1)       # unweighted basis, Re rows
    Kim = jnp.concatenate([zero, kim, capcol, indcol], axis=-1)    # Im rows
    w2 = w * w
    # stage 1: complex uses both row sets, real only Re rows (C, L columns vanish there),
    # imag only Im rows (the R0 column vanishes there)
    a, b = jnp.where(is_i, 0.0, 1.0), jnp.where(is_r, 0.0, 1.0)
    Gs, sc = _gram(kre, jnp.where(act, tau, 0.0), omega, w2, a, b, cap_on, ind_on, shared)
    coef, cond = _lsq(Kre, Kim, Gs, sc, w2, a, b, zr, zi, shared)

    def real_stage2(coef):
        # x_C and L from what is left of Im(Z)
        rest_im = zi - _apply(Kim, coef, shared)
        a_cap = jnp.broadcast_to(capcol[..., 0], (B, F))
        a_ind = jnp.broadcast_to(indcol[..., 0], (B, F))
        xc, xl = _lsq2(a_cap, a_ind, w2, rest_im)
        return coef.at[:, -2].set(xc).at[:, -1].set(xl)

    def imag_stage2(coef):
        # R0 = 1/|Z|^2-weighted mean of what is left of Re(Z) (Boukamp 1995, eq. 7)
        rest_re = zr - _apply(Kre, coef, shared)
        return coef.at[:, 0].set(jnp.sum(w2 * rest_re, axis=1) / jnp.sum(w2, axis=1))

    coef = lax.cond(is_r, real_stage2, lambda x: x, coef)
    coef = lax.cond(is_i, imag_stage2, lambda x: x, coef)
    R = coef[:, 1:n_pad + 1]
    neg = jnp.sum(jnp.where(R < 0, -R, 0.0), axis=1)
    pos = jnp.sum(jnp.where(R >= 0, R, 0.0), axis=1)
    mu = 1.0 - neg / pos
    return coef, jnp.broadcast_to(tau, (B, n_pad)), mu, cond


def _stages(width: int):
    """Padded width (= last M) of each while-loop stage: few stages keep XLA compile time
    low (each costs about a second), padding keeps small M cheap."""
    out, lo = [], 1
    for edge in _STAGE_EDGES + (width,):
        hi = min(edge, width)
        if hi >= lo:
            out.append(hi)
            lo = hi + 1
    return out


def _stage(omega, zr, zi, w, w_min, w_max, st, m0, c, max_M, opt, *, hi, width, shared):
    """Run M = m0..hi (one padded width) on one chunk of spectra until all are done; m0
    (chunk,) per spectrum: a spectrum joins when M reaches its m0."""
    B = zr.shape[0]
    m0 = jnp.broadcast_to(m0, (B,))

    def cond(carry):
        m, st = carry
        return (m <= hi) & jnp.any(st["active"])

    def body(carry):
        m, st = carry
        coef, tau, mu, cnd = _fit_M(omega, zr, zi, w, w_min, w_max, m, hi, opt, shared)
        pad = jnp.zeros((B, width - hi))
        coef_full = jnp.concatenate([coef[:, :hi + 1], pad, coef[:, -2:]], axis=1)
        a = st["active"] & (m >= m0)
        new = dict(
            M=jnp.where(a, m, st["M"]), mu=jnp.where(a, mu, st["mu"]),
            cond=jnp.where(a, cnd, st["cond"]),
            coef=jnp.where(a[:, None], coef_full, st["coef"]),
            tau=jnp.where(a[:, None], jnp.concatenate([tau, pad], axis=1), st["tau"]),
            active=jnp.where(a, (mu > c) & (m < max_M), st["active"]),
        )
        return m + 1, new

    z_fit = st.pop("z_fit")
    ran = st["active"]
    start = jnp.min(jnp.where(ran, m0, hi + 1))
    st = lax.while_loop(cond, body, (start, st))[1]
    st["z_fit"] = jnp.where(ran[:, None], _model(omega, st["coef"], st["tau"]), z_fit)
    return st


def _model(omega, coef, tau):
    """Z_hat at every frequency from the coefficients and time constants (B, width);
    unused RC slots have R_k = 0."""
    om = omega if omega.ndim == 2 else omega[None, :]
    x = om[:, :, None] * tau[:, None, :]                               # (B, F, width)
    kre = 1.0 / (1.0 + x * x)
    R = coef[:, None, 1:-2]
    zr = coef[:, :1] + jnp.sum(R * kre, axis=2)
    zi = -jnp.sum(R * x * kre, axis=2) + om * coef[:, -1:] - coef[:, -2:-1] / om
    return zr + 1j * zi


def _run_stages(omega, zr, zi, w, c, m_start, max_M, fixed, opt, *, width, shared, chunk):
    """All stages over the batch.  Before each stage the spectra still active are moved to
    the front and only ceil(n_active / chunk) chunks are processed, so the few spectra that
    need large M do not drag the whole batch through the wide (expensive) stages."""
    B, F = zr.shape
    om = jnp.broadcast_to(omega, (B, F))
    w_min = jnp.min(jnp.where(w > 0, om, jnp.inf), axis=1)
    w_max = jnp.max(jnp.where(w > 0, om, -jnp.inf), axis=1)
    state = dict(
        active=m_start <= max_M, M=jnp.zeros(B, jnp.int64), mu=jnp.full(B, jnp.nan),
        cond=jnp.full(B, jnp.nan), coef=jnp.zeros((B, width + 3)), tau=jnp.zeros((B, width)),
        z_fit=jnp.zeros((B, F), jnp.complex128),
    )
    n_ch = B // chunk
    lo = 1
    for hi in _stages(width):
        m0 = jnp.maximum(m_start, lo)
        stage = partial(_stage, c=c, max_M=max_M, opt=opt, hi=hi, width=width, shared=shared)
        run = state["active"] & (m0 <= hi)
        order = jnp.argsort(~run, stable=True)               # spectra to run first
        n_run = jnp.sum(run)

        def chunk_body(carry, stage=stage, order=order, n_run=n_run, m0=m0):
            j, st = carry
            idx = lax.dynamic_slice(order, (j * chunk,), (chunk,))
            mine = (j * chunk + jnp.arange(chunk)) < n_run
            sub = {k: v[idx] for k, v in st.items()}
            sub["active"] = sub["active"] & mine
            om_c = omega if shared else omega[idx]
            sub = stage(om_c, zr[idx], zi[idx], w[idx], w_min[idx], w_max[idx], sub, m0[idx])
            sub["active"] = jnp.where(mine, sub["active"], st["active"][idx])
            return j + 1, {k: st[k].at[idx].set(sub[k]) for k in st}

        n_need = jnp.minimum((n_run + chunk - 1) // chunk, n_ch)
        _, state = lax.while_loop(lambda cr, n_need=n_need: cr[0] < n_need, chunk_body,
                                  (jnp.asarray(0, n_need.dtype), state))
        lo = hi + 1
    # mu is NaN (0/0) when every R_k is 0 (e.g. a pure resistor): the loop stops there, as
    # impedance.py's does; only non-finite coefficients are a failure
    finite = (jnp.all(jnp.isfinite(state["coef"]), axis=1)
              & jnp.all(jnp.isfinite(state["z_fit"]), axis=1))
    status = jnp.where(fixed, KK_STATUS["FIXED_M"],
                       jnp.where(state["mu"] > c, KK_STATUS["MAX_M"], KK_STATUS["MU_REACHED"]))
    status = jnp.where(finite, status, KK_STATUS["NONFINITE"]).astype(jnp.int64)
    return LinKKOut(state["M"], state["mu"], state["coef"], state["tau"], state["z_fit"], status,
                    state["cond"])


@partial(jax.jit, static_argnames=("width", "chunk"))
def lin_kk(omega, Z, weight, c, *, max_M=50, min_M=1, fixed=False, mode=0, add_cap=False,
           add_ind=True, width: int = 50, chunk: int = 512) -> LinKKOut:
    """Lin-KK test of a batch of spectra.

    Parameters
    ----------
    omega : (F,) or (B, F) float64, rad/s (2 pi f; used entries > 0).  A 1-D grid means
        every spectrum shares it *and* uses the same points (shared-basis path).
    Z : (B, F) complex128, ohm (finite at used points)
    weight : (B, F) float64, 1 where a point is used, 0 where it is not
    c : scalar, mu threshold (ignored when ``fixed``)
    max_M : int, largest number of RC elements (<= width)
    min_M : int or (B,) int, first M tried (per spectrum; above ``max_M``: the spectrum
        is skipped and its outputs are meaningless -- reruns of a few spectra of a batch
        keep the batch's shapes and compiled program this way)
    fixed : bool, fit exactly ``max_M`` elements (impedance.py's ``c=None``)
    mode : int, ``KK_MODES`` code (0 complex, 1 real, 2 imag)
    add_cap, add_ind : bool, series capacitance / inductance columns
    width : static int, padded number of RC columns (one compiled program serves every
        max_M <= width)
    chunk : static int, spectra processed together (B must be a multiple of it, or smaller)

    Returns
    -------
    LinKKOut
    """
    omega = jnp.asarray(omega, jnp.float64)
    shared = omega.ndim == 1
    Z = jnp.asarray(Z, jnp.complex128)
    used = jnp.asarray(weight, jnp.float64) > 0
    w = jnp.where(used, 1.0 / jnp.where(used, jnp.abs(Z), 1.0), 0.0)   # 1/|Z| point weights
    c = jnp.asarray(c, jnp.float64)
    fixed = jnp.asarray(fixed, bool)
    max_M = jnp.clip(jnp.asarray(max_M, jnp.int64), 1, width)
    B = Z.shape[0]
    # per spectrum; min_M > max_M leaves a spectrum out (M = 0, results meaningless)
    m_start = jnp.broadcast_to(jnp.where(fixed, max_M, jnp.clip(
        jnp.asarray(min_M, jnp.int64), 1, max_M + 1)), (B,))
    opt = (jnp.asarray(mode, jnp.int64), jnp.asarray(add_cap, jnp.float64),
           jnp.asarray(add_ind, jnp.float64))
    return _run_stages(omega, Z.real, Z.imag, w, c, m_start, max_M, fixed, opt, width=width,
                       shared=shared, chunk=min(chunk, B))
