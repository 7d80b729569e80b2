"""``fastfit fit``: bulk fits in chunks, each chunk committed to the store as it completes.

Resuming: spectra are ingested with content keys (re-ingesting is a no-op), the chunk
layout is a pure function of the ordered input indices and ``--chunk``, and chunks whose
spectra all have committed results are skipped.  A re-run after a kill therefore fits the
same chunks, with the same inputs and compiled programs, as an uninterrupted run would.
Memory stays bounded: one input file and one chunk of spectra/results at a time.
"""
from __future__ import annotations

import time

import click
import numpy as np

from ._common import echo, ingest, is_store, progress, setup_jax

__all__ = ["run_fit", "run_compare", "fit_options", "candidate_runs"]


def fit_options(circuit, weight, kk_threshold, area_cm2) -> dict:
    """The options that decide results (stored with the run; a resume must match)."""
    return {"circuit": str(circuit), "weight": weight, "kk_threshold": kk_threshold,
            "area_cm2": area_cm2}


def _resolve_out(files, out):
    if out is not None:
        return out
    if len(files) == 1 and is_store(files[0]):
        return files[0]
    raise click.UsageError("--out is required (the HDF5 store to write)")


def _check_run(store, run: str, options: dict, kind: str = "fit") -> None:
    from ..errors import StoreError

    if run not in store.runs():
        return
    info = store.run_info(run)
    old = info.get("options", {})
    diff = sorted(k for k in set(old) | set(options) if old.get(k) != options.get(k))
    if info.get("kind") != kind or diff:
        what = f"is a {info.get('kind')} run" if info.get("kind") != kind else \
            "was made with other " + ", ".join(diff)
        raise StoreError(f"{store.path}: run {run!r} {what}; use --run NAME for a new run")


def kk_mask(series, threshold: float):
    """lin-KK of a chunk and the points it keeps (relative residual <= threshold; bad
    points are dropped from the spectrum ends inwards, see :func:`fastfit.kk`)."""
    from ..validation import kk

    res = kk(series.freq, series.Z, mask=series.mask, max_rel_residual=threshold)
    return res, np.asarray(res.mask, bool) & series.mask


def locate_error(series, exc):
    """The same error with "spectrum b" (position in a chunk) replaced by the source file
    and the spectrum's position in it."""
    import re

    from ..errors import DataError

    m = re.match(r"spectrum (\d+)\b:?\s*(.*)", str(exc), re.S)
    if not m or int(m.group(1)) >= len(series):
        return exc
    b = int(m.group(1))
    sources = series.meta.get("sources") or [series.meta.get("source")]
    src = sources[int(series.info["source_id"][b])] if "source_id" in series.info else sources[0]
    where = f"{src or 'input'}, spectrum {int(series.info['index'][b])}"
    return DataError(f"{where}: {m.group(2)}")


def run_fit(files, *, circuit, out, run, area_cm2, kk_threshold, weight, chunk, quiet,
            scheduler=None, element_modules=()) -> int:
    out = _resolve_out(files, out)
    setup_jax()                                 # first: programs compiled on import are cached too
    from ..circuit import Circuit
    from ..errors import FastfitError
    from ..store import Store
    from . import load_element_modules

    load_element_modules(element_modules)       # user elements, before the circuit is parsed
    circ = Circuit(circuit)
    options = fit_options(circ, weight, kk_threshold, area_cm2)
    if scheduler is not None:
        return _run_on_cluster(files, circ, out, run, options, kk_threshold, weight, chunk,
                               quiet, scheduler, element_modules)
    from ..fitting import fit

    t_start = time.perf_counter()
    with Store(out, "a") as store:
        if store.recovered_rows:
            echo(f"fastfit fit: {out}: dropped {store.recovered_rows} uncommitted rows of an "
                 "interrupted run")
        _check_run(store, run, options)
        indices = ingest(files, store, chunk, quiet)
        todo, n_todo = _pending(store, run, indices, chunk)
        n_fitted = n_ok = 0
        with progress("fitting", indices.size, done=indices.size - n_todo, quiet=quiet) as bar:
            for idx in todo:
                series = store.spectra(idx)
                kres, mask = (None, series.mask)
                try:
                    if kk_threshold is not None:
                        kres, mask = kk_mask(series, kk_threshold)
                    res = fit(series, circuit=circ, weight=weight, mask=mask)
                except FastfitError as exc:
                    raise locate_error(series, exc) from exc
                store.write_fit(run, idx, res, circ, options, kk=kres)
                n_fitted += idx.size
                n_ok += int(np.count_nonzero(np.asarray(res.status) > 0))
                bar.advance(idx.size)
    dt = time.perf_counter() - t_start
    skipped = indices.size - n_todo
    echo(f"fastfit fit: {indices.size} spectra, {n_fitted} fitted ({n_ok} converged), "
         f"{skipped} already done; run {run!r} in {out} ({dt:.1f} s)")
    return 0


def _run_on_cluster(files, circ, out, run, options, kk_threshold, weight, chunk, quiet,
                    scheduler, element_modules=()) -> int:
    """``fastfit fit --scheduler``: inputs are ingested here as without it, then the same
    chunks are fitted on Dask workers by :func:`fastfit.distributed.fit_files` and written
    back by this process -- same chunks, same compiled programs, so the store holds the
    same numbers (bit for bit) as a run without ``--scheduler``.  ``--element-module``
    files travel to the workers as source text (a worker plugin imports them there)."""
    from ..distributed import fit_files, get_client
    from ..store import Store

    t_start = time.perf_counter()
    client, close = get_client(scheduler)       # a bad address fails before any writing
    try:
        if element_modules:
            from ._elements_plugin import ElementModules

            client.register_plugin(ElementModules(element_modules))
        with Store(out, "a") as store:
            if store.recovered_rows:
                echo(f"fastfit fit: {out}: dropped {store.recovered_rows} uncommitted rows "
                     "of an interrupted run")
            _check_run(store, run, options)
            indices = ingest(files, store, chunk, quiet)
            n_todo = int(np.count_nonzero(~np.isin(indices, store.done(run))))
        seen = [0]
        with progress("fitting", indices.size, done=indices.size - n_todo, quiet=quiet) as bar:
            def advance(done: int, total: int) -> None:
                bar.advance(done - seen[0])
                seen[0] = done

            fitted = fit_files([out], circ, scheduler=client, out=out, run=run, chunk=chunk,
                               indices=indices, kk_threshold=kk_threshold, weight=weight,
                               options=options, compile_cache=True, progress=advance)
    finally:
        close()
    n_ok = 0
    if fitted.size:
        with Store(out, "r") as store:
            res = store.results(run)
        n_ok = int(np.count_nonzero(res["status"][np.isin(res["spectrum"], fitted)] > 0))
    dt = time.perf_counter() - t_start
    echo(f"fastfit fit: {indices.size} spectra, {fitted.size} fitted ({n_ok} converged), "
         f"{indices.size - n_todo} already done; run {run!r} in {out} ({dt:.1f} s, "
         f"scheduler {scheduler})")
    return 0


def candidate_runs(run: str, n: int) -> list[str]:
    """Names of the runs holding the candidates' fits of compare run ``run``."""
    return [f"{run}.{m}" for m in range(n)]


def run_compare(files, *, circuits, criterion, out, run, area_cm2, kk_threshold, weight, chunk,
                quiet) -> int:
    """``fastfit fit`` with several ``--circuit``: :func:`fastfit.compare` per chunk; every
    candidate's fit goes to run ``<run>.<m>``, the choice per spectrum to run ``run``
    (written last, so a chunk counts as done only when all of it is committed)."""
    out = _resolve_out(files, out)
    setup_jax()
    from ..circuit import Circuit
    from ..errors import FastfitError
    from ..inference import compare
    from ..store import Store

    circs = [Circuit(c) for c in circuits]
    names = candidate_runs(run, len(circs))
    options = {"circuits": [str(c) for c in circs], "criterion": criterion, "weight": weight,
               "kk_threshold": kk_threshold, "area_cm2": area_cm2}
    cand_options = [fit_options(c, weight, kk_threshold, area_cm2) for c in circs]
    t_start = time.perf_counter()
    with Store(out, "a") as store:
        if store.recovered_rows:
            echo(f"fastfit fit: {out}: dropped {store.recovered_rows} uncommitted rows of an "
                 "interrupted run")
        _check_run(store, run, options, kind="compare")
        for name, opts in zip(names, cand_options):
            _check_run(store, name, opts)
        indices = ingest(files, store, chunk, quiet)
        todo, n_todo = _pending(store, run, indices, chunk)
        counts = np.zeros(len(circs) + 1, np.int64)
        with progress("comparing", indices.size, done=indices.size - n_todo, quiet=quiet) as bar:
            for idx in todo:
                series = store.spectra(idx)
                kres, mask = (None, series.mask)
                try:
                    if kk_threshold is not None:
                        kres, mask = kk_mask(series, kk_threshold)
                    cmp = compare(series, circuits=circs, criterion=criterion, weight=weight,
                                  mask=mask)
                except FastfitError as exc:
                    raise locate_error(series, exc) from exc
                for name, c, res, opts in zip(names, circs, cmp.results, cand_options):
                    store.write_fit(name, idx, res, c, opts, kk=kres)
                store.write_compare(run, idx, cmp, names, options)
                counts += np.bincount(np.where(cmp.best_index >= 0, cmp.best_index, len(circs)),
                                      minlength=len(circs) + 1)
                bar.advance(idx.size)
    dt = time.perf_counter() - t_start
    chosen = ", ".join(f"{name} ({c}): {int(k)}" for name, c, k in zip(names, circs, counts))
    echo(f"fastfit fit: {indices.size} spectra, {n_todo} compared, "
         f"{indices.size - n_todo} already done; chosen by {criterion}: {chosen}"
         + (f", none: {int(counts[-1])}" if counts[-1] else "")
         + f"; run {run!r} in {out} ({dt:.1f} s)")
    return 0


def _pending(store, run: str, indices: np.ndarray, chunk: int):
    """The chunks of ``indices`` (store rows, in order) that ``run`` has not stored yet,
    each without its done rows (a resumed run continues where it stopped), and their
    total size."""
    done = store.done(run)
    chunks = [indices[i:i + chunk] for i in range(0, indices.size, chunk)]
    todo = [c[~np.isin(c, done)] for c in chunks]
    todo = [c for c in todo if c.size]
    return todo, int(sum(c.size for c in todo))
