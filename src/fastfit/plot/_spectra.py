"""Nyquist and Bode plots of one spectrum with the fitted model and a residual panel."""
from __future__ import annotations

import numpy as np

from ._base import new_figure, prepare

__all__ = ["nyquist", "bode"]

_DATA = dict(marker="o", ms=4, ls="none", color="C0")
_FIT = dict(color="C3", lw=1.5)


def _residual_panel(ax, f, Z, Z_fit, used):
    """Relative residuals (Z_fit - Z)/|Z| in %, real and imaginary parts, vs frequency."""
    rel = (Z_fit - Z) / np.abs(Z) * 100.0
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.plot(f[used], rel.real[used], "o-", ms=3, lw=0.8, color="C0", label="Re")
    ax.plot(f[used], rel.imag[used], "s-", ms=3, lw=0.8, color="C1", label="Im")
    ax.set_xscale("log")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("residual (%)")
    ax.legend(loc="best", fontsize="small", ncol=2)
    ax.grid(True, alpha=0.3)


def _excluded(ax, x, y, used):
    if (~used).any():
        ax.plot(x[~used], y[~used], marker="o", ms=4, ls="none", mfc="none", color="0.5",
                label="excluded")


def nyquist(freq, Z, Z_fit=None, *, mask=None, fit_curve=None, title=None, residuals=None,
            figsize=(6.0, 6.5)):
    """Nyquist plot (-Z'' vs Z', equal axes) with fit overlay and residual panel.

    Parameters
    ----------
    freq : (F,) float, Hz
    Z : (F,) complex, ohm (capacitive arcs have Z'' < 0 and are drawn upwards)
    Z_fit : (F,) complex, ohm, optional -- the model at ``freq`` (gives the residuals)
    mask : (F,) bool, optional -- points used by the fit; others are drawn hollow
    fit_curve : ((K,) Hz, (K,) complex ohm), optional -- the model on a fine grid for a
        smooth line (default: ``Z_fit`` joined point to point)
    title : str, optional
    residuals : bool, optional -- draw the residual panel (default: when ``Z_fit`` given)

    Returns
    -------
    matplotlib.figure.Figure
    """
    f, Z, Z_fit, used = prepare(freq, Z, Z_fit, mask)
    show_res = Z_fit is not None if residuals is None else bool(residuals and Z_fit is not None)
    fig = new_figure(figsize)
    if show_res:
        gs = fig.add_gridspec(2, 1, height_ratios=[3, 1])
        ax, axr = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    else:
        ax, axr = fig.add_subplot(1, 1, 1), None
    ax.plot(Z.real[used], -Z.imag[used], label="data", **_DATA)
    _excluded(ax, Z.real, -Z.imag, used)
    if fit_curve is not None:
        Zc = np.asarray(fit_curve[1], complex)
        ax.plot(Zc.real, -Zc.imag, label="fit", **_FIT)
    elif Z_fit is not None:
        ax.plot(Z_fit.real, -Z_fit.imag, label="fit", **_FIT)
    ax.set_xlabel("Z' (Ω)")
    ax.set_ylabel("-Z'' (Ω)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    if axr is not None:
        _residual_panel(axr, f, Z, Z_fit, used)
    return fig


def bode(freq, Z, Z_fit=None, *, mask=None, fit_curve=None, title=None, residuals=None,
         figsize=(6.5, 7.0)):
    """Bode plot: |Z| (log-log) and phase vs frequency, fit overlay, residual panel.

    Parameters are those of :func:`nyquist`.  The phase is drawn as -phase(Z) in
    degrees, so capacitive behaviour is positive.

    Returns
    -------
    matplotlib.figure.Figure
    """
    f, Z, Z_fit, used = prepare(freq, Z, Z_fit, mask)
    show_res = Z_fit is not None if residuals is None else bool(residuals and Z_fit is not None)
    fig = new_figure(figsize)
    n = 3 if show_res else 2
    gs = fig.add_gridspec(n, 1, height_ratios=[2, 2, 1.3][:n])
    axm = fig.add_subplot(gs[0])
    axp = fig.add_subplot(gs[1], sharex=axm)
    axm.plot(f[used], np.abs(Z[used]), label="data", **_DATA)
    _excluded(axm, f, np.abs(Z), used)
    axp.plot(f[used], -np.angle(Z[used], deg=True), **_DATA)
    _excluded(axp, f, -np.angle(Z, deg=True), used)
    if fit_curve is not None:
        fc, Zc = np.asarray(fit_curve[0], float), np.asarray(fit_curve[1], complex)
    elif Z_fit is not None:
        order = np.argsort(f)
        fc, Zc = f[order], Z_fit[order]
    else:
        fc = Zc = None
    if fc is not None:
        axm.plot(fc, np.abs(Zc), label="fit", **_FIT)
        axp.plot(fc, -np.angle(Zc, deg=True), **_FIT)
    axm.set_xscale("log")
    axm.set_yscale("log")
    axm.set_ylabel("|Z| (Ω)")
    axp.set_ylabel("-phase (°)")
    for a in (axm, axp):
        a.grid(True, which="both", alpha=0.3)
    axm.legend(loc="best", fontsize="small")
    if title:
        axm.set_title(title)
    if show_res:
        axp.tick_params(labelbottom=False)
        axm.tick_params(labelbottom=False)
        axr = fig.add_subplot(gs[2], sharex=axm)
        _residual_panel(axr, f, Z, Z_fit, used)
    else:
        axm.tick_params(labelbottom=False)
        axp.set_xlabel("frequency (Hz)")
    return fig
