"""`write_report`: PNG figures and one self-contained HTML page for a results store.

For every fit run: parameters vs time (area-specific when the run has an ``area_cm2``
option), chi2 vs time, Nyquist and Bode plots with the fitted model and residuals for
the first, middle and last fitted spectrum, an Arrhenius plot of each resistance when
the spectra carry a temperature, and a parameter table (all rows also in a CSV).  KK
runs get their test indicators over time and, for the first, middle and last spectrum,
the lin-KK and Z-HIT residuals (both tests recomputed for those spectra); DRT results a
heat map over time and, for the same three spectra, the DRT with its 95 % credible band
and peak intervals (recomputed with the run's lambda, tau range and sign option:
bands are not stored); compare runs (``fastfit fit`` with several circuits) the circuit
chosen per spectrum and the candidates' weights over time, with a count table.  The HTML
embeds every PNG as base64, so it can be mailed or archived alone.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

__all__ = ["write_report"]

_MAX_POINTS = 20_000
_TEMPERATURE_KEYS = ("T_K", "temperature_K", "temperature", "T", "temp_K", "T_C", "temperature_C")
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}img{max-width:100%;margin:.5em 0;border:1px solid #eee}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs img{max-width:48%}code{background:#f4f4f4}"""


class _Page:
    def __init__(self, out_dir: Path):
        self.out = out_dir
        self.parts: list[str] = []
        self.files: list[Path] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{text}</p>")

    def figure(self, fig, name: str, group: list | None = None) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        data = buf.getvalue()
        path = self.out / f"{name}.png"
        path.write_bytes(data)
        self.files.append(path)
        tag = (f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
               f'{base64.b64encode(data).decode()}">')
        (group if group is not None else self.parts).append(tag)

    def table(self, header, rows, left=1) -> None:
        th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>'
                     for i, h in enumerate(header))
        body = "".join("<tr>" + "".join(
            f'<td class="{"l" if i < left else ""}">{html.escape(str(c))}</td>'
            for i, c in enumerate(r)) + "</tr>" for r in rows)
        self.parts.append(f"<table><tr>{th}</tr>{body}</table>")

    def write(self, title: str) -> Path:
        doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
               f"</title><style>{_CSS}</style></head><body>{''.join(self.parts)}</body></html>")
        path = self.out / "report.html"
        path.write_text(doc, encoding="utf-8")
        return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _fmt(v, err=None) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    s = f"{v:.4g}"
    if err is not None and np.isfinite(err):
        s += f" ± {err:.2g}"
    return s


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
    from .circuit import Circuit
    from .plot import bode, nyquist

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


def _fit_section(page, store, run, info):
    from .plot import arrhenius, params_vs_time

    tag = _safe(run)
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
                          ["median chi2_red", _fmt(float(np.median(res["chi2_red"]))) if n else "–"],
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
    step = max(1, n // _MAX_POINTS)             # thin very long series for drawing only
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
        rows.append([int(df.index[i]), _fmt(r["time"])]
                    + [_fmt(r[nm], r[f"{nm}_stderr"]) for nm in names] + [_fmt(r["chi2"]), int(r["status"])])
    page.h(3, f"First {len(rows)} of {n} spectra")
    page.table(["spectrum", "time (s)"] + [f"{nm} ({u})" for nm, u in zip(names, units)]
               + ["chi2", "status"], rows, left=0)


def _picks(spectra) -> list[int]:
    """Rows of the first, middle and last spectrum of a run table."""
    n = len(spectra)
    return sorted({0, n // 2, n - 1}) if n else []


def _compare_section(page, store, run, info):
    from .plot import model_choice

    tag = _safe(run)
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
            f"{int(df.index[i])} ({_fmt(t[i])} s: {html.escape(circuits[best[i]] if best[i] >= 0 else 'none')})"
            for i in change[:20]) + (" …" if change.size > 20 else ""))
    step = max(1, n // _MAX_POINTS)
    w = df[[f"weight_{m}" for m in range(len(circuits))]].to_numpy()
    page.figure(model_choice(df["time"].to_numpy()[::step], best[::step], w[::step], circuits,
                             title=f"{run}: chosen circuit"), f"{tag}_choice")
    page.p(f"All choices and weights: <code>{html.escape(csv.name)}</code>; each "
           "candidate's fit is in its own run below.")


def _kk_section(page, store, run, kk, times, tag):
    from .plot import params_vs_time, validation_residuals
    from .validation import kk as lin_kk
    from .validation import zhit

    step = max(1, kk["M"].size // _MAX_POINTS)
    vals = np.c_[kk["M"], kk["mu"], kk["pseudo_chi2"]][::step]
    page.p(f"lin-KK: {int(kk['valid'].sum())} of {kk['valid'].size} spectra valid")
    page.figure(params_vs_time(vals, ["M", "mu", "pseudo_chi2"], time=times[::step],
                               status=np.where(kk["valid"], 1, 0)[::step],
                               title=f"{run}: lin-KK"), f"{tag}_kk")
    rows = _picks(kk["spectrum"])
    if not rows:
        return
    spectra = [int(kk["spectrum"][r]) for r in rows]
    series = store.spectra(spectra)
    opts = store.run_info(run).get("options", {})
    limit = opts.get("max_rel_residual") or opts.get("kk_threshold") or 0.05
    rk = lin_kk(series.freq, series.Z, mask=series.mask, max_rel_residual=float(limit))
    rz = zhit(series.freq, series.Z, mask=series.mask)
    page.p(f"Residuals of the lin-KK and Z-HIT tests (Z-HIT: {int(rz.valid.sum())} of "
           f"{len(rz)} shown spectra valid)")
    figs: list[str] = []
    for i, s in enumerate(spectra):
        page.figure(validation_residuals(rk, rz, i, title=f"{run}: spectrum #{s}"),
                    f"{tag}_residuals_{s}", figs)
    page.parts.append(f"<div class='figs'>{''.join(figs)}</div>")


def _drt_section(page, store, run, drt, times, tag):
    from .plot import drt_heatmap

    tau = drt["tau"][0]
    if drt["tau"].shape[0] > 1 and not np.allclose(drt["tau"], tau[None, :], equal_nan=True):
        page.p("DRT: the τ grids differ between spectra; heat map not drawn")
        return
    step = max(1, drt["gamma"].shape[0] // 2000)
    page.figure(drt_heatmap(times[::step], tau, np.nan_to_num(drt["gamma"][::step]),
                            title=f"{run}: DRT"), f"{tag}_drt")
    _drt_bands(page, store, run, drt, tag)


def _drt_bands(page, store, run, drt, tag):
    """The first, middle and last DRT of a run again, with a 95 % credible band."""
    from .plot import drt_band
    from .relaxation import drt as solve_drt

    rows = _picks(drt["spectrum"])
    lam = np.asarray(drt["lam"], float)
    if not rows or not np.all(np.isfinite(lam[rows]) & (lam[rows] > 0)):
        return
    spectra = [int(drt["spectrum"][r]) for r in rows]
    series = store.spectra(spectra)
    opts = store.run_info(run).get("options", {})
    tr = opts.get("tau_range")
    sign = opts.get("sign") if opts.get("sign") in ("nonnegative", "free", "auto") else None
    d = solve_drt(series.freq, series.Z, mask=series.mask, lam=lam[rows],
                  tau_range=None if tr is None else tuple(tr), sign=sign, bands=0.95,
                  n_samples=100)
    peaks = d.peaks()
    figs: list[str] = []
    for i, s in enumerate(spectra):
        page.figure(drt_band(d.tau, d.gamma[i], d.gamma_lo[i], d.gamma_hi[i],
                             peaks=peaks.spectrum(i), level=0.95,
                             title=f"{run}: DRT of spectrum #{s}"), f"{tag}_drt_band_{s}", figs)
    page.parts.append(f"<div class='figs'>{''.join(figs)}</div>")


def write_report(store_path, out_dir, run: str | None = None) -> Path:
    """Write PNGs, CSVs and ``report.html`` for the runs of a store into ``out_dir``.

    Parameters
    ----------
    store_path : path of a fastfit HDF5 store
    out_dir : directory (created if needed)
    run : str, optional -- only this run (default: every run)

    Returns
    -------
    Path of ``report.html``.
    """
    from .store import Store

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = _Page(out)
    with Store(store_path, "r") as store:
        if run is not None:
            store.run_info(run)                   # StoreError naming the run if missing
        runs = store.runs() if run is None else [run]
        page.h(1, f"fastfit report: {Path(store_path).name}")
        n = len(store)
        page.p(f"{n} spectra; runs: {', '.join(html.escape(r) for r in runs) or 'none'}")
        for r in runs:
            info = store.run_info(r)
            tag = _safe(r)
            if info.get("kind") == "compare":
                _compare_section(page, store, r, info)
            elif "param_names" in info:
                _fit_section(page, store, r, info)
            else:
                page.h(2, f"Run {r!r}: {info.get('kind')}")
                page.p(f"options: <code>{html.escape(json.dumps(info.get('options', {})))}</code>")
            for part, fn in (("kk", _kk_section), ("drt", _drt_section)):
                if f"n_{part}" in info and info[f"n_{part}"]:
                    table = store.results(r, part)
                    fn(page, store, r, table, store.times(table["spectrum"]), tag)
        if not runs and n:
            from .plot import nyquist

            s = store.spectra([0])
            page.figure(nyquist(s.freq[0], s.Z[0], mask=s.mask[0], title="spectrum 0"), "spectrum_0")
    return page.write(f"fastfit report: {Path(store_path).name}")
