"""Peaks of DRTs and peak tracking across a time series (numpy post-processing)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ._refine import refine_found
from ._system import FWHM_GAUSS

__all__ = ["DRTPeaks", "PeakTracks", "find_peaks", "track_peaks"]

VANISH = 1e-3       # gamma below this fraction of max |gamma| ends a peak's region
LOOP_FLOOR = 0.03   # negative peaks: prominence scale at least this fraction of max |gamma|


@dataclass(frozen=True, eq=False)
class DRTPeaks:
    """Peaks of B DRTs, padded to P = the largest count (NaN beyond ``count``).

    Attributes (all (B, P) float64 unless noted), sorted by increasing tau:
    tau : s, apex position (parabolic interpolation in ln tau)
    f_apex : Hz, 1 / (2 pi tau)
    area : ohm, resistance of the process: integral of gamma over ln tau across the
        peak's region (regions split at the minimum between neighbouring peaks; each
        basis function counts for the region holding its centre, so the areas of a
        spectrum, plus any rising tail at the grid ends and any tail in the
        extrapolated part of the grid cut off by vanishing gamma (see
        :func:`find_peaks`), add up to R_pol); negative for a negative (inductive) peak
    width : decades, full width at half maximum in log10 tau (within the region)
    height : ohm, gamma at the apex (negative for a negative peak);  prominence : ohm
    sign : +1 (capacitive peak of gamma) or -1 (negative peak)
    tau_lo, tau_hi : s;  area_lo, area_hi : ohm -- credible interval of the apex
        position and the area at the result's band level (quantiles over the posterior
        samples, the peak's region fixed); NaN when the result has no samples.  They
        carry the noise, not the regularisation bias; under an active constraint the
        samples are those of the truncated posterior, whose area quantiles lie somewhat
        above the optimum's area (clipping only adds mass)
    count : (B,) int, peaks per spectrum
    refined : (B,) bool -- True where ``area`` and ``tau`` come from the parametric
        refinement (one ZARC per peak fitted to the impedance, see
        :mod:`fastfit.relaxation._refine`) instead of the integral and apex of gamma
    """

    tau: np.ndarray
    f_apex: np.ndarray
    area: np.ndarray
    width: np.ndarray
    height: np.ndarray
    prominence: np.ndarray
    count: np.ndarray
    sign: np.ndarray | None = None
    tau_lo: np.ndarray | None = None
    tau_hi: np.ndarray | None = None
    area_lo: np.ndarray | None = None
    area_hi: np.ndarray | None = None
    refined: np.ndarray | None = None

    def __len__(self) -> int:
        return self.count.shape[0]

    def spectrum(self, i: int) -> dict:
        """Peaks of spectrum ``i`` as a dict of 1-D arrays (no padding)."""
        n = int(self.count[i])
        return {k: getattr(self, k)[i, :n] for k in _FIELDS}

    def track(self, max_shift: float = 0.5) -> "PeakTracks":
        """Follow peaks through the batch order (see :func:`track_peaks`)."""
        return track_peaks(self, max_shift=max_shift)


@dataclass(frozen=True, eq=False)
class PeakTracks:
    """Peaks followed across a series: K tracks, (B, K) arrays, NaN where absent.

    tau (s), f_apex (Hz), area (ohm), width (decades), height (ohm);
    log_tau_mean : (K,) mean log10 tau of each track (tracks sorted by it).
    """

    tau: np.ndarray
    f_apex: np.ndarray
    area: np.ndarray
    width: np.ndarray
    height: np.ndarray
    log_tau_mean: np.ndarray


_FIELDS = ("tau", "f_apex", "area", "width", "height", "prominence", "sign", "tau_lo",
           "tau_hi", "area_lo", "area_hi")   # per peak; DRTPeaks.refined is per spectrum


def _one(lt, g, wts, ltb, coef, thr, gmax, walls=(), meas=None):
    """Peaks of one DRT (g >= 0 here) on ascending ln tau grid ``lt``, prominence at
    least ``thr * gmax``; returns list of dicts.  ``walls``: ln tau of the sign
    boundaries (see :func:`_walls`); a maximum that does not fall to half its height
    before a wall is bounded by the constraint, not by the data, and is treated like a
    maximum at a grid end (it bounds its neighbours' regions, it is not reported).
    ``meas``: (lo, hi) ln tau of the measured range, 1 / (2 pi f) at the highest and
    lowest used frequency."""
    T = g.size
    if T < 3 or not np.all(np.isfinite(g)) or g.max() <= 0:
        return []
    # candidates: strict interior maxima (plateaus: first point) and rising grid ends
    up = np.diff(g)
    pre = np.nonzero((up[:-1] > 0) & (up[1:] <= 0))[0] + 1
    cand = [int(i) for i in pre if up[i] < 0 or _plateau_falls(up, i)]
    edges = []
    if up[0] < 0:
        edges.append(0)
    if up[-1] > 0:
        edges.append(T - 1)
    allc = sorted(cand + edges)
    keep = []
    for i in allc:
        left = g[:i + 1][::-1]
        right = g[i:]
        lb = _base(left, g[i])
        rb = _base(right, g[i])
        prom = g[i] - max(lb, rb) if (i not in (0, T - 1)) else g[i] - (rb if i == 0 else lb)
        if prom >= thr * gmax:
            keep.append((i, prom))
    # mass in the extrapolated part of the grid (tau beyond the measured 1/w range),
    # separated from the outermost peak by vanishing gamma, is a tail, not part of the
    # peak: a silent bound where gamma vanishes
    silent = set()
    inner = [i for i, _ in keep if i not in (0, T - 1)]
    if inner and meas is not None:
        tiny = VANISH * gmax
        for side, j in ((-1, inner[0]), (1, inner[-1])):
            idx = np.arange(j, -1, -1) if side < 0 else np.arange(j, T)
            off = np.nonzero(g[idx] <= tiny)[0]
            if not off.size:
                continue
            m = int(idx[off[0]])
            rest = idx[off[0]:]
            inside = (lt[rest] >= meas[0]) & (lt[rest] <= meas[1])
            beyond = [k for k, _ in keep if (k - m) * side >= 0 and k not in (0, T - 1)]
            if not beyond and np.any(g[rest] > tiny) and np.all(g[rest][inside] <= tiny):
                keep = [k for k in keep if (k[0] - m) * side < 0]
                keep.append((m, 0.0))
                silent.add(m)
    keep.sort()
    if not keep:
        return []
    edge = silent | {i for i, _ in keep if _against_wall(lt, g, i, walls)}
    # region boundaries at the minimum between consecutive kept candidates
    bounds = [lt[0] - 1.0]
    for (i, _), (j, _) in zip(keep[:-1], keep[1:]):
        v = i + int(np.argmin(g[i:j + 1]))
        bounds.append(lt[v])
    bounds.append(lt[-1] + 1.0)
    peaks = []
    for r, (i, prom) in enumerate(keep):
        if i in (0, T - 1) or i in edge:
            continue
        lo, hi = bounds[r], bounds[r + 1]
        # apex: parabola through (i-1, i, i+1)
        y0, y1, y2 = g[i - 1], g[i], g[i + 1]
        den = y0 - 2 * y1 + y2
        d = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        d = float(np.clip(d, -0.5, 0.5))
        h = lt[1] - lt[0] if i + 1 >= T else lt[i + 1] - lt[i]
        lt_apex = lt[i] + d * h
        height = y1 - 0.25 * (y0 - y2) * d
        inside = (ltb > lo) & (ltb < hi)
        on_edge = (ltb == lo) | (ltb == hi)
        area = float(np.sum(np.where(inside, wts * coef, 0.0)) + 0.5 * np.sum(np.where(on_edge, wts * coef, 0.0)))
        half = 0.5 * g[i]
        sel = np.nonzero((lt >= lo) & (lt <= hi))[0]
        a, b = sel[0], sel[-1]
        k = i
        while k > a and g[k - 1] > half:
            k -= 1
        left_x = lt[k] if k == a else lt[k - 1] + (half - g[k - 1]) / (g[k] - g[k - 1]) * (lt[k] - lt[k - 1])
        k = i
        while k < b and g[k + 1] > half:
            k += 1
        right_x = lt[k] if k == b else lt[k] + (g[k] - half) / (g[k] - g[k + 1]) * (lt[k + 1] - lt[k])
        peaks.append(dict(lt=lt_apex, area=area, width=(right_x - left_x) / np.log(10.0),
                          height=float(height), prom=float(prom), lo=lo, hi=hi))
    return peaks


def _measured_range(result, b):
    """(lo, hi) ln tau = ln 1 / (2 pi f) over the used frequencies of spectrum b, or None."""
    f = np.asarray(result.freq[b], np.float64)
    used = np.isfinite(f) & (f > 0)
    if result.mask is not None:
        used &= np.asarray(result.mask[b], bool)
    if not used.any():
        return None
    return -np.log(2 * np.pi * f[used].max()), -np.log(2 * np.pi * f[used].min())


def _walls(sign, ltb, live) -> np.ndarray:
    """ln tau of the sign boundaries of one DRT: midpoints between neighbouring live basis
    functions constrained to opposite signs (+1 / -1); empty without sign regions."""
    s = np.asarray(sign)[live]
    x = ltb[live]
    order = np.argsort(x)
    s, x = s[order], x[order]
    ch = np.nonzero((s[1:] * s[:-1]) < 0)[0]
    return 0.5 * (x[ch] + x[ch + 1])


def _against_wall(lt, g, i, walls) -> bool:
    """True when the maximum g[i] stays above half its height all the way to the nearest
    sign boundary on one side: its flank there is the constraint's (the coefficients
    beyond the wall cannot share its sign), so neither its position nor its width is
    resolved by the data.  Measured on 600 ``synthetic.inductive_loops`` spectra
    (0.2 % noise): such maxima sit 0.05-0.1 decade from the wall, 10-15 % of the largest
    |gamma| high, where the negative peak of a Debye-like loop would need positive
    side lobes that its own region forbids; every true peak there was >= 0.5 decade
    from the wall and half-way down well before it."""
    for w in walls:
        side = (lt > lt[i]) & (lt <= w) if w > lt[i] else (lt < lt[i]) & (lt >= w)
        if side.any() and np.all(g[side] > 0.5 * g[i]):
            return True
    return False


def _plateau_falls(up, i):
    j = i
    while j < up.size and up[j] == 0:
        j += 1
    return j < up.size and up[j] < 0


def _base(side, top):
    """Lowest value before the curve (walking away from the peak) rises above ``top``."""
    higher = np.nonzero(side > top)[0]
    stop = higher[0] if higher.size else side.size
    return float(side[:stop].min())


def _basis_matrix(result, b, lt) -> np.ndarray:
    """(T, Tb) matrix E of spectrum b: gamma(lt) = E @ coef (padding columns 0)."""
    wts = result.basis_weight[b]
    live = wts > 0
    ltb = np.log(result.tau_basis[b][live])
    E = np.zeros((lt.size, wts.size))
    if result.options.get("basis") == "piecewise_linear":
        eye = np.eye(ltb.size)
        E[:, live] = np.stack([np.interp(lt, ltb, eye[j], left=0.0, right=0.0)
                               for j in range(ltb.size)], axis=1)
        return E
    eps = result.options.get("eps")
    if eps is None:                      # pyDRTtools' discretisation: shape from the spacing
        eps = result.options["rbf_shape"] * FWHM_GAUSS / abs(np.mean(np.diff(ltb)))
    E[:, live] = np.exp(-(eps * (lt[:, None] - ltb[None, :])) ** 2)
    return E


def _intervals(result, b, lt, peaks, level):
    """Credible intervals (tau_lo, tau_hi, area_lo, area_hi) of each peak of spectrum b
    from the posterior samples of its coefficients (regions fixed)."""
    C = result.samples[b]                                  # (S, Tb)
    G = C @ _basis_matrix(result, b, lt).T                 # (S, T)
    wts = result.basis_weight[b]
    ltb = np.log(np.where(wts > 0, result.tau_basis[b], 1.0))
    q = (0.5 - 0.5 * level, 0.5 + 0.5 * level)
    for p in peaks:
        lo, hi = p["lo"], p["hi"]
        w = np.where((ltb > lo) & (ltb < hi), wts, 0.0) + 0.5 * np.where(
            (ltb == lo) | (ltb == hi), wts, 0.0)
        area = p["sign"] * (np.maximum(p["sign"] * C, 0.0) @ w)   # as the point estimate
        sel = np.nonzero((lt >= lo) & (lt <= hi))[0]
        g = p["sign"] * G[:, sel]
        i = np.argmax(g, axis=1)
        j0, j2 = np.clip(i - 1, 0, sel.size - 1), np.clip(i + 1, 0, sel.size - 1)
        rows = np.arange(g.shape[0])
        y0, y1, y2 = g[rows, j0], g[rows, i], g[rows, j2]
        den = y0 - 2 * y1 + y2
        inner = (i > 0) & (i < sel.size - 1) & (den < 0)
        d = np.clip(np.where(inner, 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0),
                    -0.5, 0.5)
        lts = lt[sel]
        step = np.diff(lts).mean() if sel.size > 1 else 0.0
        apex = lts[i] + d * step
        p["tau_lo"], p["tau_hi"] = np.exp(np.quantile(apex, q))
        p["area_lo"], p["area_hi"] = np.quantile(area, q)


def find_peaks(result, min_prominence: float = 0.1, refine: str | bool = "auto") -> DRTPeaks:
    """Peaks of every DRT in ``result`` (a :class:`~fastfit.DRTResult`).

    A peak is an interior local maximum of gamma (or, for negative peaks, of -gamma) on
    ``result.tau`` whose topographic prominence is at least ``min_prominence`` times the
    largest |gamma| of that spectrum -- for negative peaks the largest |gamma| of the
    negative part, but at least ``LOOP_FLOOR`` (3 %) of the largest of all: a broad loop
    beside a sharp arc may peak below 10 % of the arc (maxima at the ends of the tau
    grid, e.g. a capacitive tail, are not reported but still bound the regions of their
    neighbours).
    Positive and negative peaks are found on max(gamma, 0) and max(-gamma, 0)
    separately.  With sign regions (``sign="auto"``) a maximum that stays above half its
    height up to a sign boundary is treated like a grid-end maximum: its flank there is
    the constraint's, not the data's (the bump a loop's negative peak leaves on the
    capacitive side of the boundary).  Mass in the extrapolated part of the tau grid
    (beyond 1 / (2 pi f) of the measured frequencies) that is separated from the
    outermost peak by vanishing gamma (below ``VANISH`` of the largest |gamma|) is a
    tail, not part of that peak's area.  When the result has posterior samples (``drt(..., bands=level)``), every
    peak gets a credible interval of its apex position and its area at that level: the
    quantiles over the samples of the apex (in the peak's region) and of the area.

    ``refine``: "auto" (default) refines the spectra that have peaks of both signs, where
    the sign walls move resistance between neighbouring peaks: one ZARC per peak is
    fitted to the impedance (:mod:`fastfit.relaxation._refine`) and, where it explains
    the data as well as the DRT, its resistances and time constants replace the peaks'
    ``area`` and ``tau`` (``DRTPeaks.refined``; the credible intervals move with them).
    True refines every spectrum with peaks, False none.
    """
    if not (np.isscalar(min_prominence) and 0 <= min_prominence < 1):
        raise DataError(f"min_prominence must be in [0, 1) (fraction of max gamma), "
                        f"got {min_prominence!r}")
    if refine not in ("auto", True, False):
        raise DataError(f"refine must be 'auto', True or False, got {refine!r}")
    lt = np.log(result.tau)
    B = len(result)
    level = result.options.get("bands")
    found = []
    for b in range(B):
        wts = result.basis_weight[b]
        ltb = np.log(np.where(wts > 0, result.tau_basis[b], 1.0))
        g, coef = result.gamma[b], result.coef[b]
        gmax = float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else np.nan
        walls = (_walls(result.sign[b], ltb, wts > 0) if result.sign is not None
                 else np.zeros(0))
        meas = _measured_range(result, b)
        pk = []
        for sgn in (1.0, -1.0):
            scale = gmax
            if sgn < 0 and np.isfinite(gmax):
                # a loop is judged against the largest |gamma| of its own sign (a broad
                # loop beside a sharp arc is lower than 10 % of the arc), not below
                # LOOP_FLOOR of the largest |gamma| of all
                scale = max(float(np.max(-g)), LOOP_FLOOR * gmax)
            for p in _one(lt, np.maximum(sgn * g, 0.0), wts, ltb, np.maximum(sgn * coef, 0.0),
                          min_prominence * scale / gmax if gmax > 0 else min_prominence,
                          gmax, walls, meas):
                p.update(sign=sgn, area=sgn * p["area"], height=sgn * p["height"])
                pk.append(p)
        pk.sort(key=lambda p: p["lt"])
        if result.samples is not None and level is not None and pk:
            _intervals(result, b, lt, pk, float(level))
        found.append(pk)
    refined = refine_found(result, found, refine)
    P = max([len(p) for p in found] + [1])
    keys = ("lt", "area", "width", "height", "prom", "sign", "tau_lo", "tau_hi", "area_lo",
            "area_hi")
    arr = {k: np.full((B, P), np.nan) for k in keys}
    for b, pk in enumerate(found):
        for j, p in enumerate(pk):
            for k in keys:
                arr[k][b, j] = p.get(k, np.nan)
    tau = np.exp(arr["lt"])
    return DRTPeaks(tau=tau, f_apex=1.0 / (2 * np.pi * tau), area=arr["area"],
                    width=arr["width"], height=arr["height"], prominence=arr["prom"],
                    count=np.array([len(p) for p in found], np.int64), sign=arr["sign"],
                    tau_lo=arr["tau_lo"], tau_hi=arr["tau_hi"], area_lo=arr["area_lo"],
                    area_hi=arr["area_hi"], refined=refined)


def track_peaks(peaks: DRTPeaks, max_shift: float = 0.5) -> PeakTracks:
    """Link peaks of consecutive spectra into tracks by nearest log10 tau.

    Pairs (track, peak) are matched greedily in order of increasing distance between the
    peak and the track's last position; a pair is allowed only if they are at most
    ``max_shift`` decades apart.  Unmatched peaks start new tracks; a track missing in
    some spectra continues when a peak reappears within ``max_shift`` of it.
    """
    if not (np.isscalar(max_shift) and max_shift > 0):
        raise DataError(f"max_shift must be > 0 decades, got {max_shift!r}")
    B = len(peaks)
    last: list[float] = []
    members: list[list[tuple[int, int]]] = []
    for b in range(B):
        n = int(peaks.count[b])
        x = np.log10(peaks.tau[b, :n])
        pairs = sorted((abs(x[j] - last[t]), t, j) for t in range(len(last)) for j in range(n)
                       if abs(x[j] - last[t]) <= max_shift)
        used_t, used_p = set(), set()
        for _, t, j in pairs:
            if t in used_t or j in used_p:
                continue
            used_t.add(t)
            used_p.add(j)
            last[t] = x[j]
            members[t].append((b, j))
        for j in range(n):
            if j not in used_p:
                last.append(x[j])
                members.append([(b, j)])
    K = max(len(members), 1)
    out = {k: np.full((B, K), np.nan) for k in ("tau", "f_apex", "area", "width", "height")}
    for t, mem in enumerate(members):
        for b, j in mem:
            for k in out:
                out[k][b, t] = getattr(peaks, k)[b, j]
    mean = np.array([np.nanmean(np.log10(out["tau"][:, t])) if members else np.nan
                     for t in range(K)])
    order = np.argsort(mean)
    return PeakTracks(**{k: v[:, order] for k, v in out.items()}, log_tau_mean=mean[order])
