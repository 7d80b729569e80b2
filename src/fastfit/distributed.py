"""Fit a list of files, or a large store, on a Dask cluster and gather into one store.

fastfit does not schedule work across machines itself: it hands pieces of work to
`dask.distributed <https://distributed.dask.org>`_ -- an instrument file, or a chunk of a
store's spectra -- and gathers the results in the calling process, which alone writes
the output store (HDF5 has one writer; see docs/store-schema.md).

>>> from fastfit.distributed import fit_files
>>> idx = fit_files(["a.mpr", "b.mpr"], "R0-p(R1,CPE1)-p(R2,CPE2)",
...                 scheduler="tcp://10.0.0.5:8786", out="run.h5")   # doctest: +SKIP

Every spectrum is fitted by the same compiled programs and the same arithmetic as in a
single process (results are per spectrum, independent of how spectra are grouped), so
the numbers equal a local ``fastfit.fit`` of the same data (tests check 1e-12).

Workers read instrument files themselves, so the paths must be readable on the workers
(a shared file system); store chunks are read by the calling process and sent to them.
Start one worker process per machine (``dask worker ADDRESS --nworkers 1 --nthreads 1``):
JAX inside a worker already uses every core (docs/scaling.md).
"""
from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .errors import DataError, FastfitError

__all__ = ["fit_files", "fit_store", "Piece", "get_client"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True, eq=False)
class Piece:
    """One piece of work and its results (returned when no ``out`` store is given).

    Attributes
    ----------
    source : str, the input file (or store) the spectra came from
    start : int, position of the first spectrum of the piece in that source
    series : SpectrumSeries, the spectra (N)
    result : FitResult (N)
    kk : KKResult (N) or None, when ``kk_threshold`` was given
    """

    source: str
    start: int
    series: Any
    result: Any
    kk: Any = None


def _is_store(path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == _HDF5_MAGIC
    except OSError:
        return False


# ---------------------------------------------------------------- worker side
_CACHE_ON = False


def _fit_series(series, circuit: str, fit_kwargs: dict, kk_threshold, compile_cache: bool):
    """Fit one piece (on a worker): optional lin-KK point selection, then ``fit``."""
    global _CACHE_ON
    if compile_cache and not _CACHE_ON:
        from ._devices import enable_compile_cache

        enable_compile_cache()
        _CACHE_ON = True
    from .fitting import fit

    kres, mask = None, series.mask
    if kk_threshold is not None:    # as ``fastfit fit --kk-threshold``: bad points dropped
        from .validation import kk

        kres = kk(series.freq, series.Z, mask=series.mask, max_rel_residual=kk_threshold)
        mask = np.asarray(kres.mask, bool) & series.mask
    return fit(series, circuit=circuit, mask=mask, **fit_kwargs), kres


def _task_file(path: str, circuit: str, fit_kwargs: dict, kk_threshold, compile_cache: bool):
    from .io import read

    series = read(path)
    res, kres = _fit_series(series, circuit, fit_kwargs, kk_threshold, compile_cache)
    return series, res, kres


def _task_series(series, circuit: str, fit_kwargs: dict, kk_threshold, compile_cache: bool):
    res, kres = _fit_series(series, circuit, fit_kwargs, kk_threshold, compile_cache)
    return series, res, kres


# ---------------------------------------------------------------- client side
def get_client(scheduler):
    """(client, close) for ``scheduler``: None (no Dask: run here), ``"local"`` (a
    one-worker ``LocalCluster`` of its own), an address ``"tcp://host:8786"``, or a
    ``distributed.Client`` (used as is, not closed)."""
    if scheduler is None:
        return None, lambda: None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise FastfitError("scheduler given but dask.distributed is not installed: "
                           "pip install 'fastfit[distributed]'") from None
    if isinstance(scheduler, Client):
        return scheduler, lambda: None
    if not isinstance(scheduler, str) or not scheduler:
        raise DataError(f"scheduler must be 'local', an address such as 'tcp://host:8786', "
                        f"or a distributed.Client; got {scheduler!r}")
    if scheduler == "local":
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=":0")     # any free port, never 8787
        client = Client(cluster)

        def close():
            client.close()
            cluster.close()
        return client, close
    try:        # connect timeout: dask's distributed.comm.timeouts.connect (30 s default)
        _check_address(scheduler)
        client = Client(scheduler)
    except (OSError, TimeoutError, ValueError) as exc:
        raise FastfitError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    return client, client.close


def _check_address(address: str) -> None:
    """ValueError for an address dask cannot use (checked before a ``Client`` is made: a
    client that fails to start can leave dask's shared event loop unusable in this
    process)."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    registry.get_backend(scheme)
    if scheme != "inproc":
        parse_host_port(location)


def _where(kind: str, payload):
    """What error messages need of a piece read here (small: kept while it runs)."""
    info = getattr(payload, "info", None) or {}
    if kind != "series" or "index" not in info:
        return None
    sources = payload.meta.get("sources") or [payload.meta.get("source")]
    return sources, info.get("source_id"), np.asarray(info["index"])


def _located(exc: FastfitError, source: str, start: int, where=None) -> FastfitError:
    """``exc`` with "spectrum b" (position in a piece) replaced by the input file and the
    spectrum's position in it (the original file, for spectra read from a store)."""
    m = re.match(r"spectrum (\d+)\b:?\s*(.*)", str(exc), re.S)
    if not m:
        return exc
    b = int(m.group(1))
    text = f"{source}, spectrum {start + b}"
    if where is not None and b < where[2].size:
        sources, source_id, index = where
        src = sources[int(source_id[b])] if source_id is not None else sources[0]
        text = f"{src or source}, spectrum {int(index[b])}"
    return DataError(f"{text}: {m.group(2)}")


def _pieces(files, chunk: int, store, run: str, indices=None) -> Iterator[tuple]:
    """(source, start, kind, payload, known) in input order; kind "file" (payload: path)
    or "series" (payload: SpectrumSeries read here); ``known``: the spectra's indices when
    they come from the output store itself, else None.  With an output store, inputs whose
    spectra all have results in ``run`` are skipped (resume).  ``indices`` (output store
    as the only input): chunks of these store indices, less the spectra already done --
    the chunks ``fastfit fit`` fits in one process."""
    from .store import Store

    done = store.done(run) if store is not None else None
    if indices is not None:
        for start in range(0, indices.size, chunk):
            idx = indices[start:start + chunk]
            idx = idx[~np.isin(idx, done)]
            if idx.size:
                yield str(store.path), start, "series", store.spectra(idx), idx
        return
    for path in files:
        path = str(path)
        if not os.path.exists(path):
            raise DataError(f"{path}: no such file")
        if not _is_store(path):
            if store is not None:
                known = store.source_indices(path)
                if known is not None and np.isin(known, done).all():
                    continue
            yield path, 0, "file", path, None
            continue
        same = store is not None and Path(path).resolve() == store.path.resolve()
        src = store if same else Store(path, "r")
        try:
            n = len(src)
            for start in range(0, n, chunk):
                idx = np.arange(start, min(n, start + chunk))
                if same and np.isin(idx, done).all():
                    continue
                yield path, start, "series", src.spectra(idx), (idx if same else None)
        finally:
            if not same:
                src.close()


def fit_files(files: Sequence, circuit, scheduler=None, *, out=None, run: str = "fit",
              chunk: int = 2000, kk_threshold: float | None = None, options: dict | None = None,
              progress: Callable[[int, int], None] | None = None, max_in_flight: int | None = None,
              compile_cache: bool = False, indices=None, **fit_kwargs):
    """Fit every spectrum of ``files`` on a Dask cluster; gather the results.

    Parameters
    ----------
    files : sequence of str or Path
        Instrument files (read on the workers) and/or fastfit stores (read here by
        ``chunk`` spectra and sent to the workers).
    circuit : str or Circuit
    scheduler : None, "local", address "tcp://host:port", or a ``distributed.Client``
        None runs the same pieces in this process without Dask.
    out : str or Path, optional
        Output store: spectra are ingested and results committed to run ``run`` piece by
        piece, in input order (an interrupted job resumes: pieces already done are
        skipped).  Without ``out`` the pieces are returned.
    run : str
        Result run name in ``out``.
    chunk : int
        Spectra per piece for store inputs.
    kk_threshold : float, optional
        As ``fastfit fit --kk-threshold``: lin-KK first; points whose relative residual
        exceeds it are left out of the fit; the KK results are stored too.
    options : dict, optional
        The run's stored options (default: circuit, weight, kk_threshold).
    progress : callable(done, total), optional
        Called with spectra done (total grows as pieces are discovered).
    max_in_flight : int, optional
        Pieces submitted ahead of the one being gathered (default 2 per worker thread).
    compile_cache : bool
        Enable the persistent JAX compilation cache on the workers (see
        :func:`fastfit._devices.enable_compile_cache`).
    **fit_kwargs
        Passed to :func:`fastfit.fit` (weight, starts, max_iter, bounds, ...).
    indices : (N,) int, optional
        Only when ``files`` is the output store ``out`` alone: fit these store indices,
        in chunks of ``chunk`` cut before the spectra already done in ``run`` are left
        out -- exactly the chunks ``fastfit fit`` fits in one process, so results are
        bit-identical to it (``fastfit fit --scheduler`` ingests, then calls this).

    Returns
    -------
    numpy (N,) int64 store indices of the fitted spectra, in input order (with ``out``),
    or a list of :class:`Piece` (without).
    """
    from .circuit import Circuit

    circ = circuit if isinstance(circuit, Circuit) else Circuit(circuit)
    files, indices = _checked_inputs(files, chunk, out, indices, fit_kwargs)
    if options is None:
        options = {"circuit": str(circ), "weight": fit_kwargs.get("weight", "modulus"),
                   "kk_threshold": kk_threshold}
    args = (str(circ), dict(fit_kwargs), kk_threshold, bool(compile_cache))
    client, close = get_client(scheduler)
    store = None
    try:
        if out is not None:
            from .store import Store

            store = Store(out, "a")
        if max_in_flight is None:
            threads = sum(client.nthreads().values()) if client is not None else 1
            max_in_flight = 2 * max(1, threads)
        job = _Job(client, args, store, run, circ, options, progress)
        window: deque = deque()
        for piece in _pieces(files, int(chunk), store, run, indices):
            window.append(job.submit(piece))
            while len(window) >= max_in_flight:
                job.collect(window.popleft())
        while window:
            job.collect(window.popleft())
        return job.gathered_result()
    finally:
        if store is not None:
            store.close()
        close()


def _checked_inputs(files, chunk, out, indices, fit_kwargs):
    """(files as a list of str, indices as int64 or None), checked."""
    files = [str(f) for f in ([files] if isinstance(files, (str, os.PathLike)) else files)]
    if not files:
        raise DataError("no input files")
    if int(chunk) < 1:
        raise DataError(f"chunk must be >= 1, got {chunk}")
    if "mask" in fit_kwargs:
        raise DataError("mask cannot be given for files: use the files' own masks, or "
                        "kk_threshold to drop points")
    if indices is not None:
        indices = np.asarray(indices).reshape(-1)
        if indices.dtype.kind not in "iu" and indices.size:
            raise DataError(f"indices must be integers, got {indices.dtype}")
        indices = indices.astype(np.int64)
        if out is None or len(files) != 1 or Path(files[0]).resolve() != Path(out).resolve():
            raise DataError("indices: give the output store as the only input (out=files[0])")
    return files, indices


class _Job:
    """Submits pieces (to Dask, or runs them here without a client) and gathers their
    results in input order: into the output store, or as :class:`Piece` objects."""

    def __init__(self, client, args: tuple, store, run: str, circuit, options: dict, progress):
        self.client, self.args, self.store, self.run = client, args, store, run
        self.circuit, self.options, self.progress = circuit, options, progress
        self.gathered: list = []
        self.done = self.total = 0

    def submit(self, piece) -> tuple:
        source, start, kind, payload, known = piece
        where = _where(kind, payload)
        self.total += len(payload) if kind == "series" else 0
        fn = _task_file if kind == "file" else _task_series
        if self.client is None:
            try:
                return source, start, known, fn(payload, *self.args)
            except FastfitError as exc:
                raise _located(exc, source, start, where) from exc
        if kind == "series":
            [payload] = self.client.scatter([payload])
        fut = self.client.submit(fn, payload, *self.args, pure=False)
        return source, start, known, (fut, where)

    def collect(self, item) -> None:
        source, start, known, fut = item
        try:
            series, res, kres = fut if self.client is None else fut[0].result()
        except FastfitError as exc:        # raised on a worker, pickled back
            raise _located(exc, source, start, fut[1]) from exc
        if self.store is not None:
            idx = known if known is not None else self.store.append_spectra(series)
            self.store.write_fit(self.run, idx, res, self.circuit, self.options, kk=kres)
            self.gathered.append(np.asarray(idx, np.int64))
        else:
            self.gathered.append(Piece(source, start, series, res, kres))
        if self.progress is not None:
            self.done += len(series)
            self.total = max(self.total, self.done)
            self.progress(self.done, self.total)

    def gathered_result(self):
        if self.store is None:
            return self.gathered
        return np.concatenate(self.gathered) if self.gathered else np.zeros(0, np.int64)


def fit_store(path, circuit, scheduler=None, *, run: str = "fit", chunk: int = 2000, **kwargs):
    """Fit every spectrum of the store ``path`` by chunks on a Dask cluster and write the
    results back into it (run ``run``); see :func:`fit_files`.  Returns the store indices."""
    return fit_files([path], circuit, scheduler, out=path, run=run, chunk=chunk, **kwargs)
