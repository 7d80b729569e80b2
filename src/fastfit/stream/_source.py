"""The source protocol, and sources built from Python iterables.

A source is an async iterable of items: :class:`~fastfit.stream.Point` objects and
:class:`Marker` objects.  Markers say that a new source *generation* starts (a file was
rotated or rewritten: spectrum positions restart at 0, with the metadata and stated sweep
of the new generation) or carry a notice for the user (a truncated line, a client that
disconnected).  Every source has

* ``name`` -- a stable identifier, stored as the spectra's source (``meta['source']``);
* ``replayable`` -- after a restart the source delivers its points again from the first
  one (a file, a replay, a journaled socket), so spectra are re-cut at the same
  positions and the store's content keys recognise what is already stored;
* ``final`` -- set when the iteration ended because the data is complete (an iterable
  exhausted), not because the source was stopped or went idle; only then is a trailing
  incomplete sweep stored (as partial);
* ``stop()`` -- ask the iteration to end soon (Ctrl-C); safe to call from a signal
  handler running in the event loop.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import AsyncIterable, Iterable

from ._points import Sequencer, as_point

__all__ = ["Marker", "Source", "IterableSource"]


@dataclass(frozen=True)
class Marker:
    """A control item in a point stream.

    kind : "start" (a source generation begins; ``meta`` and ``sweep`` describe it),
        "end" (the current generation ended; ``final``: its data is complete, e.g. a
        rotated file, so a trailing partial sweep is stored as partial) or "notice"
        (``message`` for the user)
    """

    kind: str
    message: str = ""
    meta: dict = field(default_factory=dict)
    sweep: dict | None = None
    final: bool = False


class Source:
    """Base class of the stream sources (see the module docstring)."""

    name = "source"
    replayable = True

    def __init__(self):
        self.final = False
        self._stopping = False
        self._wake: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask the source to end its iteration (the pipeline then stores what is complete)."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when `stop` is called."""
        if self._wake is None:
            self._wake = asyncio.Event()
            if self._stopping:
                self._wake.set()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(seconds, 0.0))
        except asyncio.TimeoutError:
            pass

    def attach(self, store_path: str, run: str) -> None:
        """Called by the pipeline before iterating (sources may derive paths from it)."""

    def __aiter__(self):
        return self.items()

    async def items(self):  # pragma: no cover - abstract
        raise NotImplementedError
        yield


class IterableSource(Source):
    """Points from any iterable or async iterable (see :func:`fastfit.stream.as_point`
    for what an item may be: Point, mapping, or ``(freq, Z)`` / ``(freq, re, im[, t])``).

    Parameters
    ----------
    items : iterable or async iterable
    name : str, stored as the spectra's source
    meta : dict, series metadata (technique, instrument, t0, area_cm2...)
    sweep : dict, optional stated sweep {fi, ff (Hz), Nd}
    rate : float, optional, points per second (paces the delivery; default: as fast as
        the pipeline takes them)
    Points that carry ``seq`` numbers are put back in order and repeats are dropped
    (`fastfit.stream.Point`); points without are taken in arrival order.
    replayable : bool, True when a re-run yields the same points from the first one
    """

    def __init__(self, items: Iterable | AsyncIterable, *, name: str = "iterable",
                 meta: dict | None = None, sweep: dict | None = None,
                 rate: float | None = None, replayable: bool = True):
        super().__init__()
        self._items = items
        self.name = name
        self.meta = dict(meta or {})
        self.sweep = sweep
        self.rate = rate
        self.replayable = replayable
        self._seq = Sequencer()

    @property
    def n_duplicates(self) -> int:
        return self._seq.n_duplicates

    async def items(self):
        self.final = False
        self._seq = Sequencer()
        yield Marker("start", meta=self.meta, sweep=self.sweep)
        t0 = time.monotonic()
        k = 0
        src = self._items
        it = src.__aiter__() if hasattr(src, "__aiter__") else iter(src)
        while not self._stopping:
            try:
                obj = await it.__anext__() if hasattr(it, "__anext__") else next(it)
            except (StopIteration, StopAsyncIteration):
                break
            if isinstance(obj, Marker):
                yield obj
                continue
            if self.rate:
                ahead = t0 + k / self.rate - time.monotonic()
                if ahead > 0.05:
                    await self._sleep(ahead)
                elif ahead > 0:
                    await asyncio.sleep(ahead)
            elif k % 64 == 63:
                await asyncio.sleep(0)
            k += 1
            p = as_point(obj)
            for q in (self._seq.accept(p) if p.seq is not None else [p]):
                yield q
        if self._stopping:
            return
        rest, missing = self._seq.flush()
        if missing:
            yield Marker("notice", f"{len(missing)} points never arrived (seq "
                                   f"{missing[0]}..{missing[-1]}); continuing without them")
        for q in rest:
            yield q
        self.final = True
