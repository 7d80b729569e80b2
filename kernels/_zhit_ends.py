"""The Z-HIT reconstruction's continuation beyond the measured ends
(:mod:`fastfit.kernels._zhit`, whose docstring gives the math): the phase continued as
``lim + (gap + b v) exp(-kappa v)`` from each end's value and slope (``_continuation``),
the fitted arc flank beyond the high-frequency end (``_flank``, the fit in ``_flank.py``),
the tabulated kernel integrals interpolated in kappa (``_hermite``), and the continuation
terms with their derivatives for the noise gain (``ends``).  Also the constants of the
continuation's tables, which :func:`fastfit.kernels._zhit.zhit_operators` builds."""
from __future__ import annotations

import jax.numpy as jnp

from ._flank import flank_fit, flank_model, flank_slope

__all__ = ["ends"]

_SPAN = 0.8           # ln-w span of the end fits (slope of the continuation)
_EXT_L = 6.0          # continuation integrated numerically up to this distance (ln w)
_N_EXT = 96           # continuation nodes (quadratic spacing, fine near the end)
_KAPPA = (0.0, 5.0)   # clip of the continuation's decay rate (1 / ln-w unit)
_KAPPA_ARC = 0.9      # decay rate of an arc's flank beyond the high-frequency end: the phase
                      # of R0 + R / (1 + (j w tau)^n) decays like exp(-n v); n = 0.9 is a
                      # typical depressed arc (0.8-1 measured equally well, see _continuation)
_N_KAP = 41           # table nodes in kappa (cubic Hermite with exact derivatives)
# arc flank fitted beyond the high-frequency end (the fit: kernels/_flank.py)
_FLANK_K = 6          # phase samples of the fit (spline values, equally spaced in ln w)
_FLANK_SPAN = 1.4     # ln-w span of those samples, ending at the last point (0.6 decade)
_FLANK_N = 48         # continuation nodes of the fitted flank (quadratic spacing to _EXT_L)
_FLANK_FLAT = 1e-6    # phase range (rad) over the samples below which the phase is flat


def _continuation(p0, d, high):
    """lim, gap, kappa, b of phi(v) = lim + (gap + b v) exp(-kappa v) beyond an end with
    value p0 and outward slope d (arrays, one per spectrum), and the derivatives of gap,
    kappa and b by p0 and d (lim is piecewise constant).

    The phase relaxes towards the next of 0, +-pi/4 (diffusion), +-pi/2 in the direction it
    is moving (0 when it moves towards 0), exponentially with the initial slope d (b = 0).
    At the high-frequency end (``high``) a capacitive phase moving towards 0 slower than
    exp(-_KAPPA_ARC v) is the flank of an arc beyond the end, which returns to 0 through an
    inflection: there phi = (p0 + b v) exp(-_KAPPA_ARC v) with b = d + _KAPPA_ARC p0 (value
    and slope matched, the arc's asymptotic decay rate).  An exponential from the end slope
    would decay far too slowly there (the error of the end point grew to 1-3 %)."""
    inside = jnp.abs(p0) < 0.5 * jnp.pi
    p0 = jnp.clip(p0, -0.5 * jnp.pi, 0.5 * jnp.pi)
    towards_zero = d * p0 < 0
    side = jnp.where(p0 != 0, jnp.sign(p0), jnp.sign(d))
    a = jnp.abs(p0)
    nxt = jnp.where(a < 0.25 * jnp.pi, 0.25 * jnp.pi, 0.5 * jnp.pi)
    lim = jnp.where(towards_zero, 0.0, side * nxt)
    gap = p0 - lim
    safe = jnp.where(gap != 0, gap, 1.0)
    raw = jnp.where(gap != 0, -d / safe, 0.0)
    arc = high & towards_zero & (p0 < 0) & (raw < _KAPPA_ARC)
    kappa = jnp.where(arc, _KAPPA_ARC, jnp.clip(raw, *_KAPPA))
    free = ~arc & (gap != 0) & (raw > _KAPPA[0]) & (raw < _KAPPA[1])
    dgap_p = inside.astype(p0.dtype)
    dkap_p = jnp.where(free, d / (safe * safe), 0.0) * dgap_p
    dkap_d = jnp.where(free, -1.0 / safe, 0.0)
    b = jnp.where(arc, d + _KAPPA_ARC * p0, 0.0)
    db_p = jnp.where(arc, _KAPPA_ARC, 0.0) * dgap_p
    db_d = arc.astype(p0.dtype)
    return lim, gap, kappa, b, dgap_p, dkap_p, dkap_d, db_p, db_d


def _flank(op, ph, p0, cur):
    """The fitted arc flank beyond the high-frequency end, per spectrum: whether it is
    used (B,), its continuation term (B, F) (sign of the right end included) and that
    term per unit end phase (B, F) and smoothed (Sr applied), for the noise gain.

    Samples y = Wf phi; flank phi_f(v) = phi_end m(v) / m(0), m the fitted model (scaled so
    that the end point keeps its phase).  Term: -[int k(x + v) (phi_f(v) - phi_end) dv +
    phi_end S_r + c phi_f'(0) / pi]  (the -phi_i S_r part is in A0).  Used where the end
    phase is negative, the samples are not flat (a constant phase keeps the exact
    constant continuation of the rule in _continuation), everything is finite,
    0.5 < m(0)/phi_end < 2 and the fit is at least as close to the samples as that rule's
    continuation extended backwards, ``cur`` (B, K)."""
    y = op.Wf @ ph.T                                              # (K, B)
    p, cost = flank_fit(y, op.vk)
    vf = _EXT_L * (jnp.arange(_FLANK_N) / (_FLANK_N - 1)) ** 2
    pb = [q[None, :] for q in p]
    m = flank_model(pb, vf[:, None], jac=False)                  # (N, B)
    m0 = m[0]
    safe0 = jnp.where(m0 != 0, m0, 1.0)
    scale = p0 / safe0
    sh = m / safe0[None, :]                                       # phi_f / phi_end
    s0 = flank_slope(p, 0.0) / safe0                             # phi_f'(0) / phi_end
    flat = jnp.max(y, axis=0) - jnp.min(y, axis=0) < _FLANK_FLAT
    cost_cur = jnp.sum((cur.T - y) ** 2, axis=0)
    use = ((p0 < 0) & ~flat & (m0 < 0) & (scale > 0.5) & (scale < 2.0) & (cost <= cost_cur)
           & jnp.all(jnp.isfinite(sh), axis=0) & jnp.isfinite(s0) & jnp.isfinite(cost))
    sh = jnp.where(use[None, :], sh, 1.0)
    s0 = jnp.where(use, s0, 0.0)
    # per unit end phase (the flank's shape held fixed: see the noise gain in _ends)
    unit = -((sh - 1.0).T @ op.Kf.T + op.S_r[None, :] + s0[:, None] * op.cf[None, :] / jnp.pi)
    sunit = -((sh - 1.0).T @ op.SKf.T + op.SS_r[None, :]
              + s0[:, None] * op.Scf[None, :] / jnp.pi)
    return use, p0[:, None] * unit, unit, sunit


def _hermite(P, dP, kappa):
    """(B, F) value and kappa derivative of the tabulated P(kappa) (columns: the
    _N_KAP nodes) at each spectrum's kappa (B,): cubic Hermite on exact derivatives."""
    h = (_KAPPA[1] - _KAPPA[0]) / (_N_KAP - 1)
    x = (kappa - _KAPPA[0]) / h
    j = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, _N_KAP - 2)
    t = (x - j)[:, None]
    p0, p1, d0, d1 = P[:, j].T, P[:, j + 1].T, dP[:, j].T * h, dP[:, j + 1].T * h
    t2, t3 = t * t, t * t * t
    val = ((2 * t3 - 3 * t2 + 1) * p0 + (t3 - 2 * t2 + t) * d0 + (-2 * t3 + 3 * t2) * p1
           + (t3 - t2) * d1)
    der = ((6 * t2 - 6 * t) * p0 + (3 * t2 - 4 * t + 1) * d0 + (-6 * t2 + 6 * t) * p1
           + (3 * t2 - 2 * t) * d1) / h
    return val, der


def ends(op, pd, ph):
    """Continuation terms (B, F), their derivatives U by pd = (p_l, d_l, p_r, d_r) (B, 4)
    and Sr @ U (lists of four (B, F) columns): per end (left +, right -)
    out = lim S + gap (P(kappa) - c0 kappa / pi) + b (-P'(kappa) + c0 / pi), since
    int k(x + v) v exp(-kappa v) dv = -dP/dkappa and the coincident node takes the slope
    phi'(0) = b - kappa gap; U and Sr U from the tables and their smoothed copies (O(F)
    per spectrum; the b term's kappa is fixed, so it adds no kappa derivative).

    At the high-frequency end, where :func:`_flank` applies, its fitted arc flank replaces
    this rule.  Noise gain there (an approximation): the flank is taken to follow the end
    value's scale with its shape fixed, i.e. its term is linear in phi_end and does not
    depend on the end slope; how noise moves the fitted shape is not propagated."""
    out, cols, scols = 0.0, [], []
    for k, (P, dP, S, c0, SP, SdP, Sc, sgn) in enumerate((
            (op.P_l, op.dP_l, op.S_l, op.c_l, op.SP_l, op.SdP_l, op.Sc_l, 1.0),
            (op.P_r, op.dP_r, op.S_r, op.c_r, op.SP_r, op.SdP_r, op.Sc_r, -1.0))):
        lim, gap, kap, b, dgap_p, dkap_p, dkap_d, db_p, db_d = _continuation(
            pd[:, 2 * k], pd[:, 2 * k + 1], k == 1)
        if k == 1:
            vk = op.vk[None, :]
            cur = lim[:, None] + (gap[:, None] + b[:, None] * vk) * jnp.exp(-kap[:, None] * vk)
            use, fterm, funit, fsunit = _flank(op, ph, pd[:, 2], cur)
            u2 = use[:, None]
        for tabs, dest in (((P, dP, c0), cols), ((SP, SdP, Sc), scols)):
            val, der = _hermite(tabs[0], tabs[1], kap)
            core = val - tabs[2][None, :] * kap[:, None] / jnp.pi
            slope = der - tabs[2][None, :] / jnp.pi
            bcore = -slope
            term = sgn * (lim[:, None] * S[None, :] + gap[:, None] * core + b[:, None] * bcore)
            cp = sgn * (dgap_p[:, None] * core + (gap * dkap_p)[:, None] * slope
                        + db_p[:, None] * bcore)
            cd = sgn * ((gap * dkap_d)[:, None] * slope + db_d[:, None] * bcore)
            if k == 1:
                term = jnp.where(u2, fterm, term)
                cp = jnp.where(u2, funit if dest is cols else fsunit, cp)
                cd = jnp.where(u2, 0.0, cd)
            if dest is cols:
                out = out + term
            dest += [cp, cd]
    return out, cols, scols          # U, Sr U as four (B, F) columns each (XLA fuses them)
