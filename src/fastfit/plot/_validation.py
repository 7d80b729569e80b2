"""Validation residuals (lin-KK and Z-HIT) and a DRT with its credible band."""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from ._base import new_figure

__all__ = ["validation_residuals", "drt_band"]


def _row(result, name, index):
    a = getattr(result, name)
    return None if a is None else np.asarray(a)[index]


def validation_residuals(kk=None, zhit=None, index: int = 0, *, title=None,
                         figsize=(6.5, 5.0)):
    """Residuals of the lin-KK test and/or the Z-HIT test of one spectrum vs frequency.

    Parameters
    ----------
    kk : :class:`~fastfit.KKResult` or None -- real and imaginary residuals (Z - Z_fit)/|Z|
        in %, the +-``max_rel_residual`` band, points the test excluded hollow, the
        representation in the legend
    zhit : :class:`~fastfit.ZHITResult` or None -- residuals (|Z| - |Z|_rec)/|Z| in %, the
        smoothed residuals the decision reads and +-tolerance
    index : int -- which spectrum of the results
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure (one panel per result given)
    """
    if kk is None and zhit is None:
        raise DataError("validation_residuals needs a KKResult (kk=) and/or a ZHITResult (zhit=)")
    for r in (kk, zhit):
        if r is not None and not -len(r) <= index < len(r):
            raise ShapeError(f"index {index} out of range for {len(r)} spectra")
    panels = [p for p in (("kk", kk), ("zhit", zhit)) if p[1] is not None]
    fig = new_figure(figsize)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (kind, r) in zip(axes, panels):
        f, used, keep = _row(r, "freq", index), _row(r, "used", index), _row(r, "mask", index)
        ax.axhline(0.0, color="0.6", lw=0.8)
        if kind == "kk":
            lim = 100 * r.options.get("max_rel_residual", 0.05)
            rep = "impedance" if r.representation is None else str(r.representation[index])
            for part, style, col in (("residuals_real", "o-", "C0"),
                                     ("residuals_imag", "s-", "C1")):
                y = 100 * _row(r, part, index)
                ax.plot(f[keep], y[keep], style, ms=3, lw=0.8, color=col,
                        label=f"lin-KK {'Re' if part.endswith('real') else 'Im'} ({rep})")
                out = used & ~keep
                if out.any():
                    ax.plot(f[out], y[out], "o", ms=4, mfc="none", color=col)
            ax.axhspan(-lim, lim, color="C2", alpha=0.08, lw=0)
            ok = "valid" if r.valid[index] else "not valid"
            ax.set_ylabel("KK residual (%)")
            ax.set_title(f"lin-KK, M = {int(r.M[index])}: {ok}", fontsize="small")
        else:
            y = 100 * _row(r, "residuals", index)
            dec = 100 * _row(r, "decision", index)
            tol = 100 * _row(r, "tolerance", index)
            o = np.argsort(f[used])
            fu = f[used][o]
            ax.plot(f[used], y[used], "o", ms=3, color="C0", label="Z-HIT |Z| residual")
            ax.plot(fu, dec[used][o], "-", color="C3", lw=1.2, label="smoothed (decision)")
            ax.fill_between(fu, -tol[used][o], tol[used][o], color="C2", alpha=0.08, lw=0)
            out = used & ~keep
            if out.any():
                ax.plot(f[out], y[out], "o", ms=5, mfc="none", color="0.3", label="excluded")
            ok = "valid" if r.valid[index] else "not valid"
            ax.set_ylabel("Z-HIT residual (%)")
            ax.set_title(f"Z-HIT: {ok}", fontsize="small")
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="x-small", ncol=2)
    axes[-1].set_xlabel("frequency (Hz)")
    if title:
        fig.suptitle(title)
    return fig


def drt_band(tau, gamma, gamma_lo=None, gamma_hi=None, *, peaks=None, level=None,
             title=None, figsize=(6.5, 4.0)):
    """One DRT with its credible band and marked peaks.

    Parameters
    ----------
    tau : (T,) s;  gamma : (T,) ohm
    gamma_lo, gamma_hi : (T,) ohm, optional -- the band (shaded)
    peaks : dict of 1-D arrays, optional -- ``DRTPeaks.spectrum(i)``: apex positions
        (and, when present, their intervals ``tau_lo``/``tau_hi`` as horizontal bars)
    level : float, optional -- the band's level, for the legend
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = np.asarray(tau, float).reshape(-1)
    g = np.asarray(gamma, float).reshape(-1)
    if g.size != t.size:
        raise ShapeError(f"gamma has {g.size} points but tau has {t.size}")
    band = [None if b is None else np.asarray(b, float).reshape(-1) for b in (gamma_lo, gamma_hi)]
    for b in band:
        if b is not None and b.size != t.size:
            raise ShapeError(f"band has {b.size} points but tau has {t.size}")
    o = np.argsort(t)
    fig = new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    ax.axhline(0.0, color="0.6", lw=0.8)
    if band[0] is not None and band[1] is not None:
        lab = "credible band" if level is None else f"{100 * level:g} % credible band"
        ax.fill_between(t[o], band[0][o], band[1][o], color="C0", alpha=0.25, lw=0, label=lab)
    ax.plot(t[o], g[o], color="C0", lw=1.5, label="γ")
    if peaks is not None and len(peaks.get("tau", [])):
        pt = np.asarray(peaks["tau"], float)
        ph = np.asarray(peaks["height"], float)
        ax.plot(pt, ph, "v", color="C3", ms=6, label="peaks")
        lo, hi = peaks.get("tau_lo"), peaks.get("tau_hi")
        if lo is not None and np.isfinite(lo).any():
            ax.errorbar(pt, ph, xerr=[pt - np.asarray(lo), np.asarray(hi) - pt], fmt="none",
                        ecolor="C3", capsize=3, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("τ (s)")
    ax.set_ylabel("γ (Ω)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return fig
