"""``fastfit kk``, ``fastfit drt`` and ``fastfit info``."""
from __future__ import annotations

import json
import math

import click
import numpy as np

from ._common import echo, ingest, is_store, iter_series, progress, setup_jax

__all__ = ["run_kk", "run_drt", "run_info"]


def _check_run(store, run: str, kind: str, options: dict) -> None:
    from ..errors import StoreError

    if run not in store.runs():
        return
    info = store.run_info(run)
    old = info.get("options", {})
    diff = sorted(k for k in set(old) | set(options) if old.get(k) != options.get(k))
    if info.get("kind") != kind or diff:
        what = (f"is a {info.get('kind')} run" if info.get("kind") != kind
                else "was made with other " + ", ".join(diff))
        raise StoreError(f"{store.path}: run {run!r} {what}; use --run NAME for a new run")


def _where(path, series, b: int) -> str:
    """The first two columns of a printed row: file and spectrum number in it."""
    return f"{path}\t{int(series.info.get('index', np.arange(len(series)))[b])}"


def _excluded(series, res, b: int) -> str:
    """Columns excluded (points dropped by the test) and valid of a printed row."""
    return (f"{int(series.mask[b].sum() - res.mask[b].sum())}\t"
            f"{'yes' if res.valid[b] else 'no'}")


def _pieces(series, chunk: int):
    for start in range(0, len(series), chunk):
        yield series[start:start + chunk]


def _process(files, *, out, run, kind, options, chunk, quiet, compute, write, emit, header):
    """Shared driver: with ``out``, ingest into a store and resume by chunks; without,
    stream the files chunk by chunk and print one line per spectrum."""
    if out is not None:
        from ..store import Store

        with Store(out, "a") as store:
            _check_run(store, run, kind, options)
            indices = ingest(files, store, chunk, quiet)
            done = store.done(run)
            todo = [c[~np.isin(c, done)] for c in
                    (indices[i:i + chunk] for i in range(0, indices.size, chunk))]
            todo = [c for c in todo if c.size]
            n_todo = sum(c.size for c in todo)
            with progress(kind, indices.size, done=indices.size - n_todo, quiet=quiet) as bar:
                for idx in todo:
                    series = store.spectra(idx)
                    write(store, run, idx, compute(series), options)
                    bar.advance(idx.size)
        echo(f"fastfit {kind}: {indices.size} spectra, {n_todo} analysed, "
             f"{indices.size - n_todo} already done; run {run!r} in {out}")
        return 0
    click.echo(header)
    for path in files:
        for series in iter_series(path, chunk):
            for piece in _pieces(series, chunk):
                res = compute(piece)
                for line in emit(path, piece, res):
                    click.echo(line)
    return 0


def run_kk(files, *, out, run, threshold, chunk, quiet, representation="impedance") -> int:
    setup_jax()
    from ..validation import kk

    options = {"max_rel_residual": threshold}
    if representation != "impedance":       # runs made before the option keep matching
        options["representation"] = representation

    def compute(series):
        return kk(series.freq, series.Z, mask=series.mask, max_rel_residual=threshold,
                  representation=representation)

    def write(store, run, idx, res, options):
        store.write_kk(run, idx, res, options)

    def emit(path, series, res):
        for b in range(len(series)):
            yield (f"{_where(path, series, b)}\t"
                   f"{int(res.M[b])}\t{res.mu[b]:.4f}\t{res.pseudo_chi2[b]:.3e}\t"
                   f"{_excluded(series, res, b)}\t{res.representation[b]}")

    return _process(files, out=out, run=run, kind="kk", options=options, chunk=chunk,
                    quiet=quiet, compute=compute, write=write, emit=emit,
                    header="file\tspectrum\tM\tmu\tpseudo_chi2\texcluded\tvalid\t"
                           "representation")


def run_zhit(files, *, out, run, threshold, chunk, quiet) -> int:
    setup_jax()
    from ..validation import zhit

    options = {"max_rel_residual": threshold}

    def compute(series):
        return zhit(series.freq, series.Z, mask=series.mask, max_rel_residual=threshold)

    def write(store, run, idx, res, options):
        store.write_zhit(run, idx, res, options)

    def emit(path, series, res):
        with np.errstate(invalid="ignore"):
            worst = np.nanmax(np.abs(np.where(res.used, res.residuals, np.nan)), axis=1)
        for b in range(len(series)):
            yield (f"{_where(path, series, b)}\t"
                   f"{worst[b]:.4f}\t{res.noise[b]:.2e}\t{_excluded(series, res, b)}")

    return _process(files, out=out, run=run, kind="zhit", options=options, chunk=chunk,
                    quiet=quiet, compute=compute, write=write, emit=emit,
                    header="file\tspectrum\tmax_abs_residual\tnoise\texcluded\tvalid")


def _tau_range(files, chunk):
    """One tau grid for the whole job (so every chunk's gamma shares it): the default
    rule of :func:`fastfit.drt` applied to the union of all frequencies."""
    lo, hi = math.inf, 0.0
    for path in files:
        for series in iter_series(path, chunk):
            f = series.freq[series.mask]
            lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
    return 1.0 / (4 * math.pi ** 2 * hi), 1.0 / lo


def run_drt(files, *, out, run, lam, chunk, quiet, sign="nonnegative", band=None) -> int:
    setup_jax()
    from ..relaxation import drt

    tau_range = _tau_range(files, chunk)
    options = {"lam": lam, "lam_select": None if lam is not None else "gcv",
               "tau_range": list(tau_range)}
    extra = {}
    if sign != "nonnegative":               # runs made before the options keep matching
        options["sign"] = extra["sign"] = sign
    if band is not None:
        options["band"] = extra["bands"] = band

    def compute(series):
        if lam is not None:
            return drt(series, lam=lam, tau_range=tau_range, **extra)
        return drt(series, lam_select="gcv", tau_range=tau_range, **extra)

    def write(store, run, idx, res, options):
        store.write_drt(run, idx, res, options)

    def emit(path, series, res):
        for b in range(len(series)):
            g = res.gamma[b]
            k = int(np.argmax(g))
            yield (f"{_where(path, series, b)}\t"
                   f"{res.R_inf[b]:.4g}\t{res.R_pol[b]:.4g}\t{res.lam[b]:.2e}\t"
                   f"{res.tau[k]:.3e}\t{int(res.status[b])}")

    return _process(files, out=out, run=run, kind="drt", options=options, chunk=chunk,
                    quiet=quiet, compute=compute, write=write, emit=emit,
                    header="file\tspectrum\tR_inf_ohm\tR_pol_ohm\tlam\ttau_peak_s\tstatus")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _info_store(path) -> None:
    from ..store import Store

    with Store(path, "r") as st:
        n = len(st)
        click.echo(f"file:        {path}")
        click.echo(f"format:      fastfit store (schema {int(st._f.attrs['schema_version'])}, "
                   f"written by fastfit {st._f.attrs.get('fastfit_version', '?')})")
        click.echo(f"spectra:     {n}")
        if n:
            s = st.spectra(np.arange(min(n, 1))) if n > 50_000 else st.spectra()
            f = s.freq[s.mask]
            click.echo(f"technique:   {s.meta.get('technique')}")
            click.echo(f"sources:     {len(s.meta.get('sources', []))}")
            click.echo(f"freq range:  {f.min():.4g} .. {f.max():.4g} Hz")
        for run in st.runs():
            i = st.run_info(run)
            counts = ", ".join(f"{k[2:]} {v}" for k, v in i.items() if k.startswith("n_"))
            circ = f" circuit {i['circuit']}" if i.get("circuit") else ""
            click.echo(f"run {run!r}: {i.get('kind')}{circ} ({counts}; {i.get('created')})")


def run_info(path) -> int:
    if is_store(path):
        _info_store(path)
        return 0
    from ..io import read

    s = read(path)
    f = s.freq[s.mask]
    pts = s.mask.sum(axis=1)
    meta = s.meta
    click.echo(f"file:        {path}")
    click.echo(f"format:      {meta.get('format')}")
    click.echo(f"technique:   {meta.get('technique')}")
    if meta.get("instrument"):
        click.echo(f"instrument:  {meta.get('instrument')}")
    click.echo(f"spectra:     {len(s)}")
    click.echo(f"points:      {pts.min()}" + (f"..{pts.max()}" if pts.max() != pts.min() else "")
               + " per spectrum")
    click.echo(f"freq range:  {f.min():.4g} .. {f.max():.4g} Hz")
    if np.isfinite(s.time).any():
        click.echo(f"time:        {np.nanmin(s.time):.6g} .. {np.nanmax(s.time_end):.6g} s"
                   + (f" from {meta['t0']}" if meta.get("t0") else ""))
    skip = {"format", "technique", "instrument", "source", "t0"}
    for k in sorted(meta):
        v = meta[k]
        if k in skip or v is None or v == [] or v == {}:
            continue
        if isinstance(v, (dict, list, tuple)):
            v = json.dumps(v, default=str)
            v = v if len(v) <= 100 else v[:97] + "..."
        click.echo(f"{k + ':':<12} {_fmt(v)}")
    if s.info:
        click.echo(f"{'per spectrum:':<12} {', '.join(sorted(s.info))}")
    if s.points:
        click.echo(f"{'per point:':<12} {', '.join(sorted(s.points))}")
    return 0
