"""Parametric refinement of the peaks of a signed DRT (``find_peaks(refine=...)``).

A DRT peak's area is the integral of gamma over the peak's region.  Under
``sign="auto"`` the constraint's walls cut the flanks of neighbouring peaks of opposite
sign: a capacitive arc's distribution may not reach into the loop's region and the loop's
regularised (broadened) peak may not reach into the arc's, so resistance moves between
the two peaks while their sum stays right.  Measured on 200 spectra each of
``synthetic.inductive_loops``-like arcs and loops (0.2 % noise): both areas within 5 % on
99.5 % with the generator's 1.8-3 decades between the time constants, but 58 % at
1.2-1.8 decades, 87 % with loops of 10-20 % of the arc and 75 % with arcs of phi 0.8-0.9
(the loop's area 5-12 % too large, the arc's 5-9 % too small).

The refinement fits the impedance itself with one ZARC (Cole-Cole) term per peak,

    Z(w) = R_inf + j w L + sum_k s_k R_k / (1 + (j w tau_k)^phi_k),

with s_k the peak's sign (+1 capacitive, -1 inductive), weighted by 1 / |Z| (relative
residuals).  A ZARC's DRT is one symmetric peak of area R_k with its apex at tau_k, so
R_k and tau_k are the peak's area and position without the walls' bias.  R_inf, L and
the R_k enter linearly and are solved exactly for every (tau, phi) (variable
projection, Golub & Pereyra 1973, with Kaufman's Jacobian); ln tau_k and phi_k
(``PHI_MIN``..1) by Levenberg-Marquardt with analytic derivatives, all spectra with the
same number of peaks at once (numpy, no loop over spectra).  Started at the DRT's apex
positions with phi = ``PHI_START``.

The refined values replace the DRT's only where the model explains the data as well as
the DRT does: relative RMS misfit at most ``MISFIT_RATIO`` times the DRT's plus
``MISFIT_FLOOR`` and within the result's ``max_misfit`` (3 %), every R_k > 0 and every
tau_k within ``MAX_SHIFT`` decades of its DRT apex.  Where the processes are not
ZARC-like (a Warburg or Gerischer tail, a rising tail at the grid end, a DRT fitted with
a series ``tail``) the misfit test fails and the integrals stay.

Extra peaks: with noise, or next to a broad arc (phi ~0.8), the DRT at lam = 1e-6 splits
one process into a main peak and ringing lobes (10-30 % prominence), and noise adds
small peaks of either sign.  Before the acceptance test the peaks go through backward
elimination: the fit is repeated without each peak in turn, and the peak whose removal
costs least is dropped when the fit stays as good (:func:`merge_ok`, a likelihood-ratio
test), until every remaining peak is needed.  It runs only on fits with two peaks of
one sign or a fitted resistance below ``SMALL`` (0.3) of the largest: one arc with one
loop of comparable size keeps both without the extra fits.

Measured (500 spectra per case, ``benchmarks/bench_drt_signed.py``, 71 points 100 kHz -
10 mHz; both peaks within 0.1 decade and 5 %, integrals -> refined): the generator's
ranges at 0.2 / 0.5 / 1 % noise 97.4 -> 100 / 83.2 -> 99.8 / 50.0 -> 95.6 %; loops 1.2-1.8
decades from the arc 58.0 -> 98.2 %; arcs of phi 0.8-0.9 76.2 -> 100 %; loops of 10-20 %
of the arc 81.8 -> 100 %; Debye arcs with loops of phi 0.8-1 26.0 -> 99.6 %;
``R0-p(R1,CPE1)-p(R2,L2)`` from the circuit string at 0.2 / 1 % noise 82.2 -> 100 /
28.6 -> 94.4 %.  The misses left: peaks the DRT does not show (a small loop inside the
arc's flank) and, at 1 % noise, loop areas off by the noise.  Cost: 0.6-2.6 ms per
spectrum against 0.2 ms for the integrals (the DRT itself ~0.5 ms).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["refine_found", "refine_peaks", "accept", "merge_ok", "MERGE_CHI2", "SMALL",
           "PHI_MIN", "PHI_START", "MISFIT_RATIO", "MISFIT_FLOOR", "MAX_SHIFT", "ITERATIONS"]

PHI_MIN = 0.3
PHI_START = 0.9
MISFIT_RATIO = 1.2
MISFIT_FLOOR = 1e-4
MAX_SHIFT = 0.5          # decades
ITERATIONS = 60
MERGE_CHI2 = 16.0
SMALL = 0.3              # elimination runs where a fitted |R_k| is below this x the largest


def _columns(w, wt, s, lt, phi):
    """Weighted design matrix [1, j w, s_k / (1 + (j w tau_k)^phi_k)] (n, 2F, K+2) and
    the derivatives of the ZARC columns by ln tau_k and phi_k (n, 2F, K each), real and
    imaginary parts stacked.  With x = (j w tau)^phi: d/d ln tau = -phi x / (1 + x)^2,
    d/d phi = -x ln(j w tau) / (1 + x)^2."""
    n, K = lt.shape
    u = np.log(w)[None, None, :] + lt[:, :, None]                    # ln(w tau)
    ph = phi[:, :, None]
    xp = np.exp(np.clip(ph * u, -700.0, 700.0)) * np.exp(0.5j * np.pi * ph)
    inv = 1.0 / (1.0 + xp)
    sw = s[:, :, None] * wt[:, None, :]
    F = w.size
    cols = np.empty((n, K + 2, F), complex)
    cols[:, 0] = wt
    cols[:, 1] = 1j * w * wt
    cols[:, 2:] = sw * inv
    q = -sw * xp * inv * inv
    d_lt = q * ph
    d_phi = q * (u + 0.5j * np.pi)

    def stack(c):
        return np.swapaxes(np.concatenate([c.real, c.imag], axis=2), 1, 2)

    return stack(cols), stack(d_lt), stack(d_phi)


def _project(A, y):
    """Least-squares coefficients c (n, P), residuals A c - y (n, 2F) and an orthonormal
    basis Q (n, 2F, P) of the columns, per row (QR of the column-scaled matrix; zero
    columns -- e.g. L with no weight -- give c = 0)."""
    norm = np.sqrt(np.sum(A * A, axis=1))                            # (n, P)
    safe = np.where(norm > 0, norm, 1.0)
    Q, R = np.linalg.qr(A / safe[:, None, :])
    rhs = (np.swapaxes(Q, 1, 2) @ y[..., None])[..., 0]
    diag = np.abs(np.diagonal(R, axis1=1, axis2=2))
    R = R + np.eye(R.shape[-1])[None] * np.where(diag < 1e-12, 1.0, 0.0)[:, None, :]
    cs = np.linalg.solve(R, rhs[..., None])[..., 0]
    c = np.where(norm > 0, cs / safe, 0.0)
    r = (A @ c[..., None])[..., 0] - y
    return c, r, Q


def _evaluate(w, wt, s, y, theta, K):
    """(c, r, cost, J) at theta: the projected residual's Jacobian by ln tau and phi in
    Kaufman's approximation, J = (I - Q Q^T) (dA/dtheta) c."""
    A, d_lt, d_phi = _columns(w, wt, s, theta[:, :K], theta[:, K:])
    c, r, Q = _project(A, y)
    D = np.concatenate([d_lt, d_phi], axis=2) * np.tile(c[:, None, 2:], (1, 1, 2))
    J = D - Q @ (np.swapaxes(Q, 1, 2) @ D)
    return c, r, np.sum(r ** 2, axis=1), J


def _clip(theta, K, lt_lo, lt_hi):
    out = theta.copy()
    out[:, :K] = np.clip(out[:, :K], lt_lo, lt_hi)
    out[:, K:] = np.clip(out[:, K:], PHI_MIN, 1.0)
    return out


def refine_peaks(freq, Z, weight, sign, log_tau):
    """ZARC-per-peak fit of n spectra with K peaks each (see the module docstring).

    Parameters
    ----------
    freq : (F,) Hz, shared;  Z : (n, F) complex ohm;  weight : (n, F) >= 0 (0 = unused)
    sign : (n, K) +1 / -1;  log_tau : (n, K) ln s, the DRT apexes (start and anchor)

    Returns
    -------
    area : (n, K) ohm, s_k R_k;  log_tau : (n, K) ln s;  phi : (n, K);
    misfit : (n,) relative RMS misfit sqrt(sum |Z_fit - Z|^2 / sum |Z|^2) over the
    used points, comparable with ``DRTResult.misfit``;  cost : (n,) the minimised sum of
    squared relative residuals
    """
    w = 2 * np.pi * np.asarray(freq, np.float64)
    Z = np.asarray(Z, complex)
    used = np.asarray(weight, np.float64) > 0
    Zs = np.where(used, Z, 0.0)
    wt = np.where(used, 1.0 / np.where(used, np.abs(Zs), 1.0), 0.0)
    s = np.asarray(sign, np.float64)
    lt0 = np.asarray(log_tau, np.float64)
    n, K = lt0.shape
    y = np.concatenate([(wt * Zs).real, (wt * Zs).imag], axis=1)
    span = 2 * MAX_SHIFT * np.log(10)
    theta = np.concatenate([lt0, np.full((n, K), PHI_START)], axis=1)
    c, r, cost, J = _evaluate(w, wt, s, y, theta, K)
    mu = np.full(n, 1e-3)
    eye = np.eye(2 * K)[None]
    live = np.arange(n)
    for _ in range(ITERATIONS):
        if not live.size:
            break
        Jl, rl = J[live], r[live]
        JTJ = np.swapaxes(Jl, 1, 2) @ Jl
        g = (np.swapaxes(Jl, 1, 2) @ rl[..., None])[..., 0]
        d = np.maximum(np.diagonal(JTJ, axis1=1, axis2=2), 1e-12)
        H = JTJ + (mu[live, None] * d)[:, :, None] * eye
        step = -np.linalg.solve(H, g[..., None])[..., 0]
        # phi at a bound with the step pushing out: held there (projected LM), so that
        # the other parameters still move
        ph = theta[live][:, K:]
        hold = np.zeros_like(step, bool)
        hold[:, K:] = ((ph >= 1.0) & (step[:, K:] > 0)) | ((ph <= PHI_MIN) & (step[:, K:] < 0))
        if hold.any():
            keep = ~hold
            Hh = H * (keep[:, :, None] & keep[:, None, :]) + eye * hold[:, :, None]
            step = -np.linalg.solve(Hh, np.where(keep, g, 0.0)[..., None])[..., 0]
        trial = _clip(theta[live] + step, K, lt0[live] - span, lt0[live] + span)
        ct_c, ct_r, ct, ct_J = _evaluate(w, wt[live], s[live], y[live], trial, K)
        better = np.isfinite(ct) & (ct < cost[live])
        gain = np.where(better, (cost[live] - ct) / np.maximum(cost[live], 1e-300), 0.0)
        idx = live[better]
        theta[idx], c[idx], r[idx], J[idx] = trial[better], ct_c[better], ct_r[better], ct_J[better]
        cost[idx] = ct[better]
        mu[live] = np.clip(np.where(better, mu[live] / 3.0, mu[live] * 4.0), 1e-12, 1e12)
        done = (better & (gain < 1e-10)) | (mu[live] >= 1e10)
        live = live[~done]
    area = s * c[:, 2:]
    wt2 = np.concatenate([wt, wt], axis=1)
    res = r / np.where(wt2 > 0, wt2, 1.0)
    den = np.sum(np.abs(Zs) ** 2, axis=1)
    misfit = np.sqrt(np.sum(res ** 2, axis=1) / np.where(den > 0, den, 1.0))
    return area, theta[:, :K], theta[:, K:], misfit, cost


def accept(area, sign, log_tau, log_tau0, misfit, misfit_drt, max_misfit=0.03) -> np.ndarray:
    """(n,) bool: where the refined peaks replace the DRT's (see the module docstring);
    never where the refined misfit exceeds ``max_misfit`` (the DRT's poor-fit threshold)."""
    misfit = np.asarray(misfit, np.float64)
    ok = np.all(np.isfinite(area), axis=1) & np.isfinite(misfit) & (misfit <= max_misfit)
    ok &= np.all(area * sign > 0, axis=1)
    ok &= np.all(np.abs(log_tau - log_tau0) <= MAX_SHIFT * np.log(10), axis=1)
    ok &= misfit <= MISFIT_RATIO * np.asarray(misfit_drt) + MISFIT_FLOOR
    return ok


def merge_ok(cost_fewer, cost, n_obs, n_par) -> np.ndarray:
    """(n,) bool: the fit without one peak is as good as with it -- its cost grows by at
    most ``MERGE_CHI2`` times the noise variance estimated from the fit with it (a
    likelihood-ratio test for the 3 parameters of the dropped peak: 16 is above the
    99.9 % quantile of chi2 with 3 degrees of freedom, 16.3)."""
    dof = np.maximum(np.asarray(n_obs) - n_par, 1)
    return cost_fewer <= cost * (1.0 + MERGE_CHI2 / dof) + 1e-20


# ------------------------------------------------- peaks of a DRTResult (find_peaks)
class PeakFit(NamedTuple):
    """One spectrum's ZARC-per-peak fit: area (K,) ohm, lt (K,) ln s, misfit, cost (see
    :func:`refine_peaks`), sign (K,)."""

    area: np.ndarray
    lt: np.ndarray
    misfit: float
    cost: float
    sign: np.ndarray


def refine_found(result, found, refine) -> np.ndarray:
    """Refine the peaks in ``found`` (per spectrum lists of dicts) in place where
    ``refine`` asks for it: backward elimination of the peaks the ZARC-per-peak fit does
    not need, then the fit's areas and positions where it is accepted; (B,) bool: the
    refined spectra (the others keep their peaks unchanged)."""
    B = len(found)
    done = np.zeros(B, bool)
    if refine is False:
        return done
    signs = [np.array([p["sign"] for p in pk]) for pk in found]
    if refine == "auto":
        want = [b for b in range(B) if len(signs[b]) and (signs[b] > 0).any()
                and (signs[b] < 0).any()]
    else:
        want = [b for b in range(B) if len(signs[b])]
    misfit = (np.full(B, np.nan) if result.misfit is None else np.asarray(result.misfit))
    current = {b: (pk, fit) for _, b, pk, fit in _fit_all(result, [(b, found[b]) for b in want])
               if fit is not None and np.isfinite(fit.cost)}
    live = [b for b in current if _suspect(*current[b])]
    while live:
        dropped = [(b, j) for b in live for j in range(len(current[b][0]))]
        jobs = [(b, current[b][0][:j] + current[b][0][j + 1:]) for b, j in dropped]
        # of the peaks whose removal passes the test, the one that leaves every fitted
        # time constant near its own DRT apex goes (a ringing lobe and its main peak give
        # the same fit without either: the lobe should go), then the smallest in the DRT
        best: dict[int, tuple] = {}
        for q, b, pk, fit in _fit_all(result, jobs):
            j = dropped[q][1]
            if fit is None or not np.isfinite(fit.cost):
                continue
            n_obs = 2 * int(np.sum(_used(result, b)))
            if not merge_ok(fit.cost, current[b][1].cost, n_obs, 3 * len(current[b][0]) + 2):
                continue
            lt0 = np.array([p["lt"] for p in pk])
            key = (bool(np.any(np.abs(fit.lt - lt0) > MAX_SHIFT * np.log(10))),
                   abs(current[b][0][j]["area"]))
            if b not in best or key < best[b][0]:
                best[b] = (key, pk, fit)
        live = []
        for b, (_, pk, fit) in best.items():
            current[b] = (pk, fit)
            if _suspect(pk, fit):
                live.append(b)
    for b, (pk, fit) in current.items():
        lt0 = np.array([[p["lt"] for p in pk]])
        if accept(fit.area[None], fit.sign[None], fit.lt[None], lt0, np.array([fit.misfit]),
                  misfit[b:b + 1], result.options.get("max_misfit", 0.03))[0]:
            done[b] = True
            _apply(pk, fit)
            found[b][:] = pk
    return done


def _suspect(pk, fit) -> bool:
    """Whether a fit may hold peaks it does not need: two peaks of one sign, or a fitted
    resistance below ``SMALL`` of the largest (a single arc with a single loop of
    comparable size skips the elimination)."""
    sg, R = fit.sign, np.abs(fit.area)
    return len(pk) > 1 and (len(set(sg.tolist())) < len(sg) or bool(R.min() < SMALL * R.max()))


def _apply(pk, fit) -> None:
    """Write a refinement (area, lt, ...) into the peak dicts ``pk``, moving the
    credible intervals with the values."""
    area, lt = fit.area, fit.lt
    for j, p in enumerate(pk):
        da, dl = area[j] - p["area"], lt[j] - p["lt"]
        p.update(area=float(area[j]), lt=float(lt[j]))
        if "area_lo" in p:
            p["area_lo"], p["area_hi"] = p["area_lo"] + da, p["area_hi"] + da
            p["tau_lo"], p["tau_hi"] = p["tau_lo"] * np.exp(dl), p["tau_hi"] * np.exp(dl)


def _used(result, b) -> np.ndarray:
    f = np.asarray(result.freq[b], np.float64)
    Z = result.Z_fit[b] - result.residuals[b]
    return (np.asarray(result.mask[b], bool) & np.isfinite(Z) & (Z != 0) & np.isfinite(f)
            & (f > 0))


def _fit_all(result, jobs):
    """Refine every (spectrum b, peak list) job, batched by peak count and frequency grid;
    yields (job index, b, peaks, :class:`PeakFit`) -- fit None for an empty list."""
    groups: dict[tuple, list] = {}
    for q, (b, pk) in enumerate(jobs):
        if not pk:
            yield q, b, pk, None
            continue
        f = np.asarray(result.freq[b], np.float64)
        groups.setdefault((len(pk), f.tobytes()), []).append((q, b, pk))
    for members in groups.values():
        rows = np.array([b for _, b, _ in members])
        freq = np.asarray(result.freq[rows[0]], np.float64)
        used = np.stack([_used(result, b) for b in rows])
        Z = np.where(used, result.Z_fit[rows] - result.residuals[rows], 0.0)
        sg = np.array([[p["sign"] for p in pk] for _, _, pk in members])
        lt0 = np.array([[p["lt"] for p in pk] for _, _, pk in members])
        freq = np.where(np.isfinite(freq) & (freq > 0), freq, 1.0)
        area, lt, _, mis, cost = refine_peaks(freq, Z, used, sg, lt0)
        for r, (q, b, pk) in enumerate(members):
            yield q, b, pk, PeakFit(area[r], lt[r], mis[r], cost[r], sg[r])
