"""The ingestion pipeline: source -> assembler -> KK -> fit -> DRT -> store -> callbacks.

Concurrency: the event loop reads the source and cuts spectra (cheap, never blocks on
the fit); one worker thread does everything that touches the store or JAX, in arrival
order (store indices and warm starts follow the source order), batching the spectra that
queue up while it is busy (see `fastfit.stream._process`).
Results reach ``on_result`` callbacks and `Pipeline.results` in the same order.

Resuming: spectra are appended with the store's content keys (position in the source +
data), so a spectrum that is already stored gets its existing index back; spectra with a
committed fit row in the run are not fitted again.  Replayable sources (files, replays,
journaled sockets) re-deliver their points after a restart, so a run killed at any moment
(even SIGKILL) and started again ends with every spectrum stored and fitted exactly once.
"""
from __future__ import annotations

import asyncio
import math
import os
import queue
import threading
import time
from typing import Any, Callable

import numpy as np

from ..circuit import Circuit
from ._assembler import Assembled, Assembler
from ._process import MAX_BATCH, Processor
from ._results import StreamResult, StreamSummary
from ._source import IterableSource, Marker, Source

__all__ = ["Pipeline", "run", "stream_options", "as_source"]

_MAX_INFLIGHT = 256


def as_source(obj: Any) -> Source:
    """A :class:`Source` as is; a path followed as a :class:`FileSource`; any iterable /
    async iterable of points wrapped in an :class:`IterableSource`."""
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, (str, bytes, os.PathLike)):
        from ._files import FileSource

        return FileSource(os.fsdecode(obj))
    if hasattr(obj, "__aiter__") or hasattr(obj, "__iter__"):
        return IterableSource(obj)
    raise TypeError(f"not a point source: {type(obj).__name__}")


def stream_options(circuit, weight, kk, drt, warm_start, fit_options, area_cm2=None) -> dict:
    """The options that decide a stream run's results (stored with the run; a resume with
    different options is refused)."""
    return {"circuit": str(circuit), "weight": weight, "kk_threshold": kk,
            "drt": drt if isinstance(drt, dict) else bool(drt), "warm_start": bool(warm_start),
            "fit_options": dict(fit_options or {}), "area_cm2": area_cm2}


class Pipeline:
    """Fit spectra as they arrive from a point source and store them.

    Parameters
    ----------
    circuit : str or Circuit, or None to store the spectra without fitting
    store : path or :class:`fastfit.Store` (opened for writing; created if missing)
    run : str, name of the fit run in the store
    weight : "modulus", "proportional" or "unit" (see :func:`fastfit.fit`)
    kk : float, optional -- run lin-KK first and exclude points whose relative residual
        exceeds this (e.g. 0.05), as ``fastfit fit --kk`` does; results go to the run
    drt : bool or dict, optional -- also compute the DRT (dict: arguments of
        :func:`fastfit.drt`) and store it with the run
    warm_start : bool -- start each fit also from the previous spectrum's parameters
        (the data-derived starts are always tried too; the best wins).  False gives
        results bit-identical to fitting the stored spectra in bulk.
    fit_options : dict -- further arguments of :func:`fastfit.fit` (bounds, fixed,
        starts, max_iter...)
    on_result : callable(StreamResult) or list of them, called in spectrum order
    on_notice : callable(str), called for source / assembler notices
    gap_s, noise_step, early : see :class:`fastfit.stream.Assembler`
    keep_results : bool -- keep every StreamResult in the summary
    area_cm2 : float, optional, recorded with the run
    warmup : bool -- when the source states its sweep (EC-Lab header: fi, ff, points per
        decade), compile the fit programs for that grid at once, so the first spectrum
        does not wait for compilation
    """

    def __init__(self, circuit, store, *, run: str = "stream", weight: str = "modulus",
                 kk: float | None = None, drt=None, warm_start: bool = True,
                 fit_options: dict | None = None, on_result=None,
                 on_notice: Callable[[str], None] | None = None, gap_s: float | None = None,
                 noise_step: float | None = None, early: bool = True,
                 keep_results: bool = True, area_cm2: float | None = None,
                 warmup: bool = True):
        self.circuit = (None if circuit is None else
                        circuit if isinstance(circuit, Circuit) else Circuit(circuit))
        self.store_arg = store
        self.run_name = run
        self.weight = weight
        self.kk = kk
        self.drt = drt
        self.warm_start = warm_start
        self.fit_options = dict(fit_options or {})
        cbs = on_result if isinstance(on_result, (list, tuple)) else [on_result] if on_result else []
        self._callbacks = list(cbs)
        self._on_notice = on_notice
        self._asm_opts = dict(gap_s=gap_s, noise_step=noise_step, early=early)
        self.keep_results = keep_results
        self.warmup = warmup
        self.options = stream_options(self.circuit, weight, kk, drt, warm_start, fit_options,
                                      area_cm2)
        self.summary = StreamSummary()
        self.pending = 0
        self._proc = Processor(self.circuit, store, run, self.options, weight=weight, kk=kk,
                               drt=drt, warm_start=warm_start, fit_options=fit_options)
        self._source: Source | None = None
        self._stop_requested = False
        self._error: BaseException | None = None
        self._listeners: list = []

    # ------------------------------------------------------------- control
    def stop(self) -> None:
        """End the run soon: the source stops, every complete spectrum is stored."""
        self._stop_requested = True
        if self._source is not None:
            self._source.stop()

    @property
    def store_path(self) -> str:
        return str(getattr(self.store_arg, "path", self.store_arg))

    # -------------------------------------------------------------- worker
    def _work(self, q: queue.Queue, loop, finished) -> None:
        """Worker thread: process queued spectra in batches until the None sentinel."""
        try:
            while True:
                batch = [q.get()]
                while isinstance(batch[-1], Assembled) and len(batch) < MAX_BATCH:
                    try:
                        batch.append(q.get_nowait())
                    except queue.Empty:
                        break
                end = batch[-1] is None
                for w in [a for a in batch if isinstance(a, np.ndarray)]:
                    self._proc.warmup(w)
                batch = [a for a in batch if isinstance(a, Assembled)]
                if batch and self._error is None:
                    try:
                        results = self._proc.process(batch)
                    except BaseException as exc:   # noqa: BLE001 - reported to the loop
                        loop.call_soon_threadsafe(self._fail, exc)
                        results = []
                    for r in results:
                        loop.call_soon_threadsafe(self._dispatch, r)
                if end:
                    break
        finally:
            loop.call_soon_threadsafe(finished.set)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
            if self._source is not None:
                self._source.stop()

    # ------------------------------------------------------------ dispatch
    def _dispatch(self, r: StreamResult) -> None:
        if r.status != "incomplete":
            self.pending -= 1
        sm = self.summary
        sm.counts[r.status] = sm.counts.get(r.status, 0) + 1
        if r.status in ("fitted", "stored"):
            sm.latencies.append(r.latency)
        if self.keep_results:
            sm.results.append(r)
        for cb in self._callbacks:
            try:
                cb(r)
            except Exception as exc:        # noqa: BLE001 - a failing callback ends the run
                self._fail(exc)
        for q in self._listeners:
            q(r)

    def _notice(self, msg: str) -> None:
        self.summary.notices.append(msg)
        if self._on_notice is not None:
            self._on_notice(msg)

    # ----------------------------------------------------------------- run
    async def run(self, source) -> StreamSummary:
        """Consume ``source`` until it ends (or `stop`); returns the summary."""
        src = as_source(source)
        self._source = src
        if self._stop_requested:
            src.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._proc.open)
        q: queue.Queue = queue.Queue()
        finished = asyncio.Event()
        worker = threading.Thread(target=self._work, args=(q, loop, finished),
                                  name="fastfit-stream", daemon=True)
        worker.start()
        asm = Assembler(getattr(src, "meta", None), getattr(src, "sweep", None),
                        **self._asm_opts)
        asm.meta["source"] = src.name

        def submit(done: list[Assembled]) -> None:
            for a in done:
                self.pending += 1
                q.put(a)

        def incomplete(a: Assembled | None) -> None:
            if a is not None:
                f, Z = a.series.spectrum(0)
                self._dispatch(StreamResult(
                    "incomplete", -1, a.index, int(f.size), float(a.series.time[0]),
                    float(a.series.time_end[0]), f, Z, self._proc.names(),
                    reason="incomplete", arrival=a.arrival,
                    message="stream stopped inside this sweep; not stored"))

        try:
            src.attach(self.store_path, self.run_name)
            async for item in src:
                if self._error is not None:
                    break
                if isinstance(item, Marker):
                    if item.kind == "start":
                        asm.meta = dict(item.meta or {})
                        asm.meta["source"] = src.name
                        asm.sweep = item.sweep
                        grid = _stated_grid(item.sweep)
                        if grid is not None and self.warmup:
                            q.put(grid)              # compile while the first sweep runs
                    elif item.kind == "end":
                        done, inc = asm.finish(final=item.final)
                        submit(done)
                        incomplete(inc)
                        asm.reset()
                    else:
                        self._notice(item.message)
                    continue
                self.summary.n_points += 1
                submit(asm.push(item, time.monotonic()))
                if asm.notices:
                    for msg in asm.notices:
                        self._notice(msg)
                    asm.notices.clear()
                while self.pending > _MAX_INFLIGHT and self._error is None:
                    await asyncio.sleep(0.01)
            if self._error is None:
                done, inc = asm.finish(final=src.final and not self._stop_requested)
                submit(done)
                incomplete(inc)
        finally:
            q.put(None)
            await finished.wait()
            await loop.run_in_executor(None, self._proc.close)
            self.summary.n_dropped = asm.n_dropped
            self.summary.n_duplicates = asm.n_duplicates + getattr(src, "n_duplicates", 0)
        self.summary.stopped = self._stop_requested
        if self._error is not None:
            raise self._error
        return self.summary

    async def results(self, source):
        """Async iterator of StreamResults while `run` consumes ``source``."""
        q: asyncio.Queue = asyncio.Queue()
        self._listeners.append(q.put_nowait)
        task = asyncio.ensure_future(self.run(source))
        try:
            while True:
                get = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
                if get in done:
                    yield get.result()
                    continue
                get.cancel()
                while not q.empty():
                    yield q.get_nowait()
                task.result()
                return
        finally:
            if not task.done():
                self.stop()
                await task


def _stated_grid(sweep) -> np.ndarray | None:
    """The frequencies a stated log sweep {fi, ff, Nd (points/decade)} will measure."""
    if not sweep or not sweep.get("Nd") or not sweep.get("fi") or not sweep.get("ff"):
        return None
    fi, ff, nd = float(sweep["fi"]), float(sweep["ff"]), float(sweep["Nd"])
    if fi <= 0 or ff <= 0 or fi == ff:
        return None
    n = int(round(abs(math.log10(fi / ff)) * nd)) + 1
    return np.logspace(math.log10(fi), math.log10(ff), n) if 3 <= n <= 10_000 else None


def run(source, circuit, store, **kwargs) -> StreamSummary:
    """Run a :class:`Pipeline` on ``source`` to its end (blocking); returns the summary.

    ``source``: a Source, a file path (followed: give ``until_idle`` through a
    :class:`~fastfit.stream.FileSource` to end), or any iterable / async iterable of points.
    """
    if isinstance(source, (str, os.PathLike)):
        from ._files import FileSource

        source = FileSource(source)
    pipe = Pipeline(circuit, store, **kwargs)
    return asyncio.run(pipe.run(source))
