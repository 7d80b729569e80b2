"""Per-spectrum numpy/scipy implementations of Z-HIT, written independently of
fastfit.kernels._zhit: the reference of tests/test_zhit.py and benchmarks/bench_zhit.py.

* ``zhit_exact_reference`` -- the reconstruction fastfit.zhit computes (same rules and
  constants, documented in fastfit.kernels._zhit): scipy's not-a-knot ``CubicSpline`` of
  the phase in ln w, its exact integral, the whole log-frequency Hilbert kernel on 8
  trapezoid nodes per interval (coincident node by its limit), the exponential
  continuation beyond both ends (damped linear on the flank of an arc beyond the
  high-frequency end), the offset on the upper half of the range;
* ``zhit_first_order_reference`` -- the classic first-order Z-HIT (Ehm et al. 2000).
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import least_squares

# continuation and quadrature constants of fastfit.kernels._zhit and _zhit_ends (documented in
# _zhit's module docstring)
REFINE, SPAN, EXT_L, N_EXT, KAPPA_MAX, KAPPA_ARC = 8, 0.8, 6.0, 96, 5.0, 0.9
# the fitted high-frequency flank: samples, span (ln w), nodes, flatness, bounds, start
FLANK_K, FLANK_SPAN, FLANK_N, FLANK_FLAT = 6, 1.4, 48, 1e-6
FLANK_BOUNDS = ([-12.0, 0.0, 0.3], [12.0, 3000.0, 1.0])
FLANK_S0, FLANK_N0 = 0.135, 0.85


def _k(y):
    """(coth y - sign y) / pi, 0 at y = 0."""
    a = np.abs(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.sign(y) * 2 / (np.pi * np.expm1(2 * np.where(a > 0, a, 1))), 0)


def _end_slope(u, y, at_end):
    x = u - (u[-1] if at_end else u[0])
    near = np.abs(x) <= SPAN
    rank = np.arange(u.size)[::-1] if at_end else np.arange(u.size)
    sel = near | (rank < 3)
    return np.polyfit(x[sel], y[sel], 2)[1]


def _continuation(p0, d, high):
    """(lim, gap, kappa, b): phi(v) = lim + (gap + b v) exp(-kappa v) beyond the end."""
    p0 = np.clip(p0, -np.pi / 2, np.pi / 2)
    side = np.sign(p0) if p0 != 0 else np.sign(d)
    nxt = np.pi / 4 if abs(p0) < np.pi / 4 else np.pi / 2
    lim = 0.0 if d * p0 < 0 else side * nxt
    gap = p0 - lim
    if high and p0 < 0 < d and d / -p0 < KAPPA_ARC:      # flank of an arc beyond the end
        return 0.0, p0, KAPPA_ARC, d + KAPPA_ARC * p0
    kappa = float(np.clip(-d / gap, 0, KAPPA_MAX)) if gap != 0 else 0.0
    return lim, gap, kappa, 0.0


def _flank_phase(x, v):
    """phase of 1 + A / (s + (j e^v)^n), x = (ln A, s, n), complex arithmetic (an R0 + ZARC
    normalised by R0, A = r/q, s = 1/q for 1 + r/(1 + q (j w tau)^n))."""
    return np.angle(1 + np.exp(x[0]) / (x[1] + np.exp(x[2] * v) * np.exp(0.5j * np.pi * x[2])))


def _flank_dphase(x, v):
    """d phase / dv of _flank_phase: Im d ln(1 + A/(s + Y)) / dv, Y = (j e^v)^n, dY/dv = n Y."""
    A = np.exp(x[0])
    Y = np.exp(x[2] * v) * np.exp(0.5j * np.pi * x[2])
    return np.imag(-A * x[2] * Y / (x[1] + Y) ** 2 / (1 + A / (x[1] + Y)))


def _flank(cs, u, p0, cur_rule):
    """(shape phi(v)/phi_end at the flank nodes, phi'(0)/phi_end) of the R0 + ZARC flank
    fitted to the spline's phase over the last FLANK_SPAN, or None where the rule of
    _continuation is kept (end phase >= 0, flat phase, bad or worse fit)."""
    xk = np.maximum(u[-1] - FLANK_SPAN * np.arange(FLANK_K) / (FLANK_K - 1), u[0])
    vk, y = xk - u[-1], cs(xk)
    if not p0 < 0 or np.ptp(y) < FLANK_FLAT:
        return None
    th = FLANK_N0 * np.pi / 2
    a = np.clip(-y[0], 1e-3, th - 0.05)
    x0 = [np.log(np.sin(a) / np.sin(th - a)), FLANK_S0, FLANK_N0]
    fit = least_squares(lambda x: _flank_phase(x, vk) - y, x0, bounds=FLANK_BOUNDS,
                        xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=2000)
    cost = np.sum(fit.fun ** 2)
    lim, gap, kap, b = cur_rule
    if cost > np.sum((lim + (gap + b * vk) * np.exp(-kap * vk) - y) ** 2):
        return None
    vf = EXT_L * (np.arange(FLANK_N) / (FLANK_N - 1)) ** 2
    m = _flank_phase(fit.x, vf)
    if not (m[0] < 0 and 0.5 < p0 / m[0] < 2):
        return None
    return m / m[0], _flank_dphase(fit.x, 0.0) / m[0]


def zhit_exact_reference(f, Z):
    """(F,) reconstructed |Z| of one spectrum (reference (a), see the module docstring)."""
    o = np.argsort(f)
    u = np.log(2 * np.pi * f[o])
    ph = np.angle(Z[o])
    cs = CubicSpline(u, ph)
    rec = 2 / np.pi * cs.antiderivative()(u)
    # interior Hilbert correction: trapezoid on REFINE nodes per interval
    t = np.arange(REFINE) / REFINE
    x = np.concatenate([(u[:-1, None] + t * np.diff(u)[:, None]).ravel(), u[-1:]])
    h = np.diff(x)
    w = np.concatenate([[h[0] / 2], (h[:-1] + h[1:]) / 2, [h[-1] / 2]])
    px, slope = cs(x), cs(u, 1)
    K = _k(u[:, None] - x[None, :]) * w[None, :]
    coinc = np.isclose(u[:, None], x[None, :], rtol=0, atol=1e-12)
    corr = np.sum(np.where(coinc, 0, K * (px[None, :] - ph[:, None])), axis=1)
    corr += np.sum(np.where(coinc, w[None, :], 0), axis=1) * (-slope / np.pi)
    # continuation beyond each end: phi = lim + (gap + b v) exp(-kappa v)
    v = EXT_L * (np.arange(N_EXT) / (N_EXT - 1)) ** 2
    dv = np.diff(v)
    wv = 0.5 * (np.r_[dv, 0] + np.r_[0, dv])
    for p0, d, dist, sgn, high in ((ph[0], -_end_slope(u, ph, False), u - u[0], 1.0, False),
                                   (ph[-1], _end_slope(u, ph, True), u[-1] - u, -1.0, True)):
        lim, gap, kap, b = _continuation(p0, d, high)
        ext = lim + (gap + b * v) * np.exp(-kap * v)
        Kx = _k(dist[:, None] + v[None, :]) * wv[None, :]
        far = -np.log1p(-np.exp(-2 * (dist + EXT_L))) / np.pi
        flank = _flank(cs, u, p0, (lim, gap, kap, b)) if high else None
        if flank is None:
            part = np.sum(Kx * (ext[None, :] - ph[:, None]), axis=1)
            part += np.where(dist == 0, wv[0] * (b - kap * gap) / np.pi, 0)
            corr += sgn * (part + far * (ext[-1] - ph))
            continue
        # fitted flank phi_f = p0 shape: int k (phi_f - p0) on its own FLANK_N nodes, plus
        # int k (p0 - phi_i) on the N_EXT nodes (as for a constant continuation)
        shape, s0 = flank
        ext_f = p0 * shape
        vf = EXT_L * (np.arange(FLANK_N) / (FLANK_N - 1)) ** 2
        dvf = np.diff(vf)
        wf = 0.5 * (np.r_[dvf, 0] + np.r_[0, dvf])
        Kf = _k(dist[:, None] + vf[None, :]) * wf[None, :]
        part = Kf @ (ext_f - p0) + far * (ext_f[-1] - p0)
        part += np.sum(Kx, axis=1) * (p0 - ph) + far * (p0 - ph)
        part += np.where(dist == 0, wf[0] * p0 * s0 / np.pi, 0)
        corr += sgn * part
    rec = rec + corr
    lm = np.log(np.abs(Z[o]))
    lf = np.log(f[o])
    ref = lf >= 0.5 * (lf[0] + lf[-1])
    out = np.empty(f.size)
    out[o] = np.exp(rec + np.mean((lm - rec)[ref]))
    return out


def zhit_first_order_reference(f, Z):
    """(F,) |Z| by the first-order Z-HIT (reference (b))."""
    o = np.argsort(f)
    u = np.log(2 * np.pi * f[o])
    cs = CubicSpline(u, np.angle(Z[o]))
    rec = 2 / np.pi * cs.antiderivative()(u) - np.pi / 6 * cs(u, 1)
    lm = np.log(np.abs(Z[o]))
    lf = np.log(f[o])
    ref = lf >= 0.5 * (lf[0] + lf[-1])
    out = np.empty(f.size)
    out[o] = np.exp(rec + np.mean((lm - rec)[ref]))
    return out
