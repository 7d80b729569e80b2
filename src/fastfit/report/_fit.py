"""Report sections of fit runs (parameters, quality, spectra, Arrhenius, table) and of
compare runs (the circuit chosen per spectrum)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from ._page import MAX_POINTS, fmt, safe_name

__all__ = ["fit_section", "compare_section"]

_TEMPERATURE_KEYS = ("T_K", "temperature_K", "temperature", "T", "temp_K", "T_C", "temperature_C")


def _area_units(units, area):
    if area is None:
        return units
    out = []
    for u in units:
        if u.startswith(("ohm", "H")):
            out.append(u + " cm2")
        elif u.startswith("F"):
            out.append(u.replace("F", "F cm-2", 1))
        else:
            out.append(u)
    return out


def _temperature(series):
    for k in _TEMPERATURE_KEYS:
        if k in series.info:
            t = np.asarray(series.info[k], float)
            if k.endswith("_C"):
                t = t + 273.15
            if np.isfinite(t).sum() >= 3 and np.nanmax(t) - np.nanmin(t) > 5:
                return t
    return None


def _spectrum_figures(page, store, run, info, res, kk, tag):
    from ..circuit import Circuit
    from ..plot import bode, nyquist

    circuit = Circuit(info["circuit"])
    spectra = res["spectrum"]
    picks = sorted({int(spectra[0]), int(spectra[len(spectra) // 2]), int(spectra[-1])})
    figs: list[str] = []
    kk_rows = {int(s): i for i, s in enumerate(kk["spectrum"])} if kk is not None else {}
    for s in picks:
        row = int(np.searchsorted(spectra, s))
        series = store.spectra([s])
        f, Z = series.freq[0], series.Z[0]
        mask = series.mask[0].copy()
        if s in kk_rows:
            km = kk["mask"][kk_rows[s]]
            mask &= km[:mask.size] if km.size >= mask.size else np.pad(km, (0, mask.size - km.size))
        p = res["params"][row]
        Z_fit = circuit.impedance(f, p)
        fu = f[series.mask[0]]
        ff = np.logspace(np.log10(fu.min()), np.log10(fu.max()), 300)
        curve = (ff, circuit.impedance(ff, p))
        src = series.meta.get("source") or "spectrum"
        title = f"#{s} ({Path(str(src)).name}, index {int(series.info['index'][0])})"
        page.figure(nyquist(f, Z, Z_fit, mask=mask, fit_curve=curve, title=title),
                    f"{tag}_nyquist_{s}", figs)
        page.figure(bode(f, Z, Z_fit, mask=mask, fit_curve=curve, title=title),
                    f"{tag}_bode_{s}", figs)
    page.parts.append(f"<div class='figs'>{''.join(figs)}</div>")


def fit_section(page, store, run, info):
    from ..plot import arrhenius, params_vs_time

    tag = safe_name(run)
    options = info.get("options", {})
    area = options.get("area_cm2")
    df = store.params(run, area_specific=area is not None)
    res = store.results(run, "fit")
    names = list(info["param_names"])
    units = _area_units(list(info.get("units", [""] * len(names))), area)
    n = len(df)
    ok = int((df["status"] > 0).sum())
    page.h(2, f"Run {run!r}: fit of {info['circuit']}")
    page.table(["", ""], [["spectra fitted", n], ["converged", f"{ok} ({100 * ok / max(n, 1):.1f} %)"],
                          ["median chi2_red", fmt(float(np.median(res["chi2_red"]))) if n else "–"],
                          ["weight", info.get("weight", "")],
                          ["options", json.dumps(options)], ["created", info.get("created")],
                          ["fastfit", info.get("fastfit_version")]])
    if n == 0:
        return
    csv = page.out / f"{tag}_params.csv"
    df.to_csv(csv)
    page.files.append(csv)
    page.p(f"All parameters: <code>{html.escape(csv.name)}</code>"
           + (f" (area-specific, A = {area} cm²)" if area else ""))
    step = max(1, n // MAX_POINTS)             # thin very long series for drawing only
    note = f" (every {step}th spectrum)" if step > 1 else ""
    page.figure(params_vs_time(df.iloc[::step], names, units=units,
                               title=f"{run}: parameters{note}"), f"{tag}_params")
    page.figure(params_vs_time(np.c_[res["chi2_red"][::step]], ["chi2_red"],
                               time=df["time"].to_numpy()[::step], status=res["status"][::step],
                               title=f"{run}: fit quality{note}"), f"{tag}_chi2")
    kk = store.results(run, "kk") if "n_kk" in info else None
    _spectrum_figures(page, store, run, info, res, kk, tag)
    series = store.spectra(res["spectrum"])
    T = _temperature(series)
    if T is not None:
        for k, name in enumerate(names):
            if units[k].startswith("ohm") and np.all(np.isfinite(res["params"][:, k])):
                page.figure(arrhenius(T, res["params"][:, k], law="inv_R",
                                      title=f"{run}: {name}"), f"{tag}_arrhenius_{name}")
    rows = []
    for i in range(min(n, 20)):
        r = df.iloc[i]
        rows.append([int(df.index[i]), fmt(r["time"])]
                    + [fmt(r[nm], r[f"{nm}_stderr"]) for nm in names] + [fmt(r["chi2"]), int(r["status"])])
    page.h(3, f"First {len(rows)} of {n} spectra")
    page.table(["spectrum", "time (s)"] + [f"{nm} ({u})" for nm, u in zip(names, units)]
               + ["chi2", "status"], rows, left=0)


def compare_section(page, store, run, info):
    from ..plot import model_choice

    tag = safe_name(run)
    df = store.choices(run)
    circuits, cands = list(info["circuits"]), list(info["candidates"])
    crit = info.get("criterion", "bic")
    page.h(2, f"Run {run!r}: choice of circuit by {crit.upper()}")
    n = len(df)
    rows = [[m, c, cand, int((df["best"] == m).sum())]
            for m, (c, cand) in enumerate(zip(circuits, cands))]
    none = int((df["best"] < 0).sum())
    if none:
        rows.append(["–", "none converged", "", none])
    page.table(["#", "circuit", "run", "spectra chosen"], rows, left=3)
    if n == 0:
        return
    csv = page.out / f"{tag}_choice.csv"
    df.to_csv(csv)
    page.files.append(csv)
    # where the choice changes: the first spectrum of each new choice
    best = df["best"].to_numpy()
    change = np.nonzero(np.diff(best) != 0)[0] + 1
    if change.size:
        t = df["time"].to_numpy()
        page.p("Choice changes at spectrum " + ", ".join(
            f"{int(df.index[i])} ({fmt(t[i])} s: {html.escape(circuits[best[i]] if best[i] >= 0 else 'none')})"
            for i in change[:20]) + (" …" if change.size > 20 else ""))
    step = max(1, n // MAX_POINTS)
    w = df[[f"weight_{m}" for m in range(len(circuits))]].to_numpy()
    page.figure(model_choice(df["time"].to_numpy()[::step], best[::step], w[::step], circuits,
                             title=f"{run}: chosen circuit"), f"{tag}_choice")
    page.p(f"All choices and weights: <code>{html.escape(csv.name)}</code>; each "
           "candidate's fit is in its own run below.")
