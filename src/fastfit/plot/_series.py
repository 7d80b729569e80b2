"""Plots over a series of spectra: parameters vs time, DRT heat map, Arrhenius."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ._base import new_figure

__all__ = ["params_vs_time", "drt_heatmap", "arrhenius", "time_axis", "model_choice"]


def time_axis(time):
    """(values, label): seconds shown in s, min, h or d by span; spectrum number when
    no time is known."""
    t = np.asarray(time, float).reshape(-1)
    if t.size == 0 or not np.isfinite(t).any():
        return np.arange(t.size, dtype=float), "spectrum #"
    span = np.nanmax(t) - np.nanmin(t)
    for scale, unit in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if span >= 3 * scale:
            return t / scale, f"time ({unit})"
    return t, "time (s)"


def params_vs_time(data, names=None, *, time=None, stderr=None, status=None, units=None,
                   title=None, ncols=None, flag_label: str = "not converged"):
    """Fitted parameters against time, one panel each, with ±1 standard-error bars.

    Parameters
    ----------
    data : pandas.DataFrame (as from ``Store.params``) or (N, P) array
        With a DataFrame, ``names`` default to its parameter columns (those with a
        ``<name>_stderr`` partner), and ``time``/``status`` come from its columns.
    names : list of str, optional -- parameters to draw
    time : (N,) s, optional;  stderr : (N, P), optional;  status : (N,) int, optional --
        spectra with status <= 0 (not converged) are drawn as hollow red markers
    units : list of str, optional -- unit per drawn parameter (axis labels)
    flag_label : str -- legend entry of the hollow markers (e.g. "not valid" when
        ``status`` is a test's pass/fail)

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hasattr(data, "columns"):
        df = data
        names = names or [c for c in df.columns if f"{c}_stderr" in df.columns]
        vals = df[names].to_numpy(float)
        errs = np.stack([df[f"{n}_stderr"].to_numpy(float) if f"{n}_stderr" in df else
                         np.full(len(df), np.nan) for n in names], axis=1) if names else None
        time = df["time"].to_numpy(float) if time is None and "time" in df else time
        status = df["status"].to_numpy() if status is None and "status" in df else status
    else:
        vals = np.atleast_2d(np.asarray(data, float))
        names = names or [f"p{k}" for k in range(vals.shape[1])]
        errs = None if stderr is None else np.asarray(stderr, float).reshape(vals.shape)
    if vals.ndim != 2 or vals.shape[1] != len(names):
        raise ShapeError(f"{vals.shape[1] if vals.ndim == 2 else '?'} parameter columns for "
                         f"{len(names)} names")
    N, P = vals.shape
    t, xlabel = time_axis(np.full(N, np.nan) if time is None else time)
    bad = np.zeros(N, bool) if status is None else np.asarray(status) <= 0
    ncols = ncols or (1 if P == 1 else 2 if P <= 4 else 3)
    nrows = max(1, math.ceil(P / ncols))
    fig = new_figure((4.2 * ncols, 2.6 * nrows + 0.4))
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    for k in range(P):
        ax = axes[k]
        y = vals[:, k]
        e = None if errs is None else np.where(np.isfinite(errs[:, k]), errs[:, k], 0.0)
        ok = ~bad
        ax.errorbar(t[ok], y[ok], yerr=None if e is None else e[ok], fmt="o", ms=3, lw=0.8,
                    capsize=1.5, color="C0")
        if bad.any():
            ax.plot(t[bad], y[bad], "o", ms=4, mfc="none", color="C3", label=flag_label)
            ax.legend(fontsize="x-small", loc="best")
        fin = y[np.isfinite(y)]
        if fin.size and (fin > 0).all() and 1e2 < fin.max() / fin.min() < 1e12:
            ax.set_yscale("log")
        unit = f" ({units[k]})" if units and units[k] and units[k] != "1" else ""
        ax.set_ylabel(names[k] + unit)
        ax.grid(True, alpha=0.3)
    for ax in axes[P:]:
        ax.set_visible(False)
    for ax in axes[max(0, P - ncols):P]:
        ax.set_xlabel(xlabel)
        ax.tick_params(labelbottom=True)
    if title:
        fig.suptitle(title)
    return fig


def model_choice(time, best, weights, names, *, title=None):
    """The circuit chosen per spectrum and the candidates' weights against time.

    Parameters
    ----------
    time : (N,) s, or None (spectrum number)
    best : (N,) int, index of the chosen candidate (-1: none converged, drawn in red)
    weights : (N, M) float, criterion weights (:attr:`fastfit.inference.Comparison.weights`)
    names : list of M str, the candidates (e.g. circuit strings)

    Returns
    -------
    matplotlib.figure.Figure (top: chosen candidate; bottom: weights)
    """
    best = np.asarray(best).reshape(-1)
    w = np.asarray(weights, float).reshape(best.size, -1)
    M = len(names)
    if w.shape[1] != M:
        raise ShapeError(f"weights has {w.shape[1]} columns for {M} candidate names")
    t, xlabel = time_axis(np.full(best.size, np.nan) if time is None else time)
    fig = new_figure((8.0, 5.2))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    ok = best >= 0
    top.step(t[ok], best[ok], where="mid", color="0.6", lw=0.8)
    top.plot(t[ok], best[ok], "o", ms=4, color="C0")
    if (~ok).any():
        top.plot(t[~ok], np.full((~ok).sum(), -0.5), "x", color="C3", label="none converged")
        top.legend(fontsize="x-small")
    top.set_yticks(range(M))
    top.set_yticklabels([str(n) for n in names], fontsize="x-small")
    top.set_ylim(-0.8, M - 0.2)
    top.set_ylabel("chosen")
    top.grid(True, alpha=0.3)
    for m in range(M):
        bottom.plot(t, w[:, m], "-o", ms=2.5, lw=1, label=str(names[m]))
    bottom.set_ylim(-0.03, 1.03)
    bottom.set_ylabel("weight")
    bottom.set_xlabel(xlabel)
    bottom.legend(fontsize="x-small", loc="best")
    bottom.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def _edges(x, log=False):
    x = np.asarray(x, float)
    v = np.log10(x) if log else x
    if v.size == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return 10 ** e if log else e


def drt_heatmap(time, tau, gamma, *, title=None, log_color=False):
    """DRT over time: tau (log, vertical) against time, colour = gamma (ohm).

    Parameters
    ----------
    time : (N,) s (NaN: spectrum number is used);  tau : (T,) s, increasing
    gamma : (N, T) ohm -- gamma(ln tau) of each spectrum
    log_color : bool -- logarithmic colour scale (for peaks of very different size)

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import LogNorm

    g = np.atleast_2d(np.asarray(gamma, float))
    tau = np.asarray(tau, float).reshape(-1)
    if g.shape[1] != tau.size:
        raise ShapeError(f"gamma has {g.shape[1]} tau points but tau has {tau.size}")
    order = np.argsort(tau)
    tau, g = tau[order], g[:, order]
    t, xlabel = time_axis(np.asarray(time, float).reshape(-1))
    if t.size != g.shape[0]:
        raise ShapeError(f"{t.size} times for {g.shape[0]} DRTs")
    srt = np.argsort(t, kind="stable")
    t, g = t[srt], g[srt]
    fig = new_figure((7.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    norm = None
    if log_color:
        pos = g[g > 0]
        if pos.size:
            norm = LogNorm(vmin=max(pos.max() * 1e-4, pos.min()), vmax=pos.max())
            g = np.where(g > norm.vmin, g, norm.vmin)
    mesh = ax.pcolormesh(_edges(t), _edges(tau, log=True), g.T, shading="flat", cmap="viridis",
                         norm=norm)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("τ (s)")
    fig.colorbar(mesh, ax=ax, label="γ (Ω)")
    if title:
        ax.set_title(title)
    return fig


def arrhenius(T_K, value=None, *, law="sigma_T", value_err=None, result=None, title=None):
    """Arrhenius plot: ln(σT), ln(1/R) or ln σ against 1000/T with the fitted line.

    Parameters
    ----------
    T_K : (N,) K -- or an :class:`fastfit.analysis.ArrheniusResult` (then nothing else)
    value : (N,) conductivity (law "sigma_T"/"sigma") or resistance ("inv_R")
    law, value_err : as in :func:`fastfit.analysis.arrhenius` (used to fit when
        ``result`` is not given)
    result : ArrheniusResult, optional -- a fit already made

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..analysis import K_B_EV
    from ..analysis import arrhenius as fit_arrhenius

    if result is None and hasattr(T_K, "Ea_eV"):
        result = T_K
    if result is None:
        result = fit_arrhenius(T_K, value, law=law, sigma_err=value_err)
    x = 1000.0 / np.asarray(result.T_K, float)
    ylabel = {"sigma_T": "ln(σT)", "inv_R": "ln(1/R)", "sigma": "ln σ"}[result.law]
    fig = new_figure((5.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.errorbar(x, result.y, yerr=result.y_err, fmt="o", color="C0", label="data")
    xs = np.linspace(x.min(), x.max(), 50)
    ax.plot(xs, result.ln_prefactor - result.Ea_eV * xs / (1000.0 * K_B_EV), color="C3",
            label=f"Ea = {result.Ea_eV:.3f} ± {result.Ea_stderr_eV:.3f} eV")
    ax.set_xlabel("1000/T (K⁻¹)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    top = ax.secondary_xaxis("top", functions=(_inv1000_to_C, _C_to_inv1000))
    top.set_xlabel("T (°C)")
    if title:
        ax.set_title(title)
    return fig


def _inv1000_to_C(x):
    x = np.asarray(x, float)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, 1000.0 / np.where(x > 0, x, 1.0) - 273.15, np.inf)


def _C_to_inv1000(c):
    c = np.asarray(c, float)
    k = c + 273.15
    with np.errstate(divide="ignore"):
        return np.where(k > 0, 1000.0 / np.where(k > 0, k, 1.0), np.inf)
