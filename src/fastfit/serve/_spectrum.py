"""One spectrum for the dashboard: data, fitted curve, KK-excluded points, KK residuals.

The store keeps each spectrum, its fit parameters and (for runs made with ``--kk``) the
mask of the points the lin-KK test kept; it does not keep model curves or KK residuals.
Those are computed here, for the one spectrum asked for, with the public API
(:meth:`fastfit.Circuit.impedance`, :func:`fastfit.kk`), and cached: the page asks for
the newest spectrum each time it changes, and a spectrum's results never change once
written (a re-fit appends a new row, which changes the cache key).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from ..errors import FastfitError
from ._view import NotFound, open_store

__all__ = ["SpectrumService"]

_CURVE_POINTS = 200
_KK_DEFAULT = 0.05          # fastfit.kk's default max_rel_residual


def _kk_threshold(options: dict) -> float:
    for key in ("kk_threshold", "max_rel_residual"):
        v = options.get(key)
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return _KK_DEFAULT


class SpectrumService:
    """Payloads of ``/api/spectrum/<i>`` for one store (thread safe, small LRU cache).

    Parameters
    ----------
    path : the store
    cache_size : int, spectra kept
    """

    def __init__(self, path, cache_size: int = 16):
        self.path = path
        self._cache: OrderedDict = OrderedDict()
        self._size = cache_size
        self._lock = threading.Condition()     # cache and job stack
        self._jobs: list = []                  # (future, args), newest last
        self._worker: threading.Thread | None = None
        self._closed = False

    def payload(self, index: int, run: str | None, run_meta: dict | None,
                wait: float | None = None) -> dict:
        """The spectrum ``index`` (negative: from the end) with the fit of ``run``.

        ``run_meta``: the run's entry of :meth:`StoreView.counts` ``fit_runs`` (circuit,
        names, units, options, kk), or None to show the data only.  The model curve and
        the KK residuals are computed in a background thread (the first computation of
        a process compiles them: seconds); ``wait`` bounds how long to wait for them
        (None: until done) -- when they are not ready, ``pending`` is True and asking
        again later gets them.  Raises :class:`NotFound` for an index out of range.
        """
        with open_store(self.path) as st:
            n = len(st)
            i = index + n if index < 0 else index
            if not 0 <= i < n:
                raise NotFound(f"{self.path}: spectrum index {index} out of range "
                               f"(the store holds {n} spectra)")
            s = st.spectra([i])
            fit = kkrow = None
            if run is not None and run_meta is not None:
                fit = st.results(run, "fit", spectra=[i])
                fit = fit if fit["spectrum"].size else None
                if run_meta.get("kk"):
                    kkrow = st.results(run, "kk", spectra=[i],
                                       columns=["mask", "valid", "mu", "M"])
                    kkrow = kkrow if kkrow["spectrum"].size else None
        measured = s.mask[0]
        f, Z = s.freq[0][measured], s.Z[0][measured]
        used = np.ones(f.size, bool)
        if kkrow is not None:
            km = np.asarray(kkrow["mask"][0], bool)
            km = np.pad(km, (0, max(0, measured.size - km.size)))[:measured.size]
            used = km[measured]
        t = float(s.time[0])
        out = {"spectrum": i, "run": run, "n_points": int(f.size),
               "time": t if np.isfinite(t) else None,
               "freq": f, "Z": {"re": Z.real, "im": Z.imag}, "mask": used,
               "fit": None, "curve": None, "params": None, "stderr": None, "units": None,
               "fit_status": None, "ok": None, "chi2_red": None, "kk": None, "notes": [],
               "pending": False}
        if kkrow is not None:
            out["kk_stored"] = {"valid": bool(kkrow["valid"][0]), "mu": float(kkrow["mu"][0]),
                                "M": int(kkrow["M"][0])}
        if fit is not None:
            p = np.asarray(fit["params"][0], np.float64)
            names = run_meta["names"]
            out.update(params=dict(zip(names, p.tolist())),
                       stderr=dict(zip(names, np.asarray(fit["stderr"][0]).tolist())),
                       units=dict(zip(names, run_meta.get("units", []))),
                       fit_status=int(fit["status"][0]), ok=bool(fit["status"][0] > 0),
                       chi2_red=float(fit["chi2_red"][0]))
        threshold = _kk_threshold((run_meta or {}).get("options", {}))
        key = (i, run, None if fit is None else p.tobytes(), threshold, f.size)
        with self._lock:
            if self._closed:
                raise NotFound(f"{self.path}: the dashboard is stopping")
            fut = self._cache.get(key)
            if fut is None:
                fut = self._cache[key] = Future()
                self._jobs.append((fut, (f, Z, None if fit is None else run_meta["circuit"],
                                         None if fit is None else p, threshold)))
                while len(self._cache) > self._size:
                    self._drop(self._cache.popitem(last=False)[1])
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, daemon=True,
                                                    name="fastfit-dashboard-models")
                    self._worker.start()
                self._lock.notify()
        try:
            hit = fut.result(timeout=wait)
        except FutureTimeout:
            out["pending"] = True
            return out
        out.update(hit["fields"])
        out["notes"] = list(hit["notes"])
        return out

    def close(self, timeout: float = 60.0) -> None:
        """Stop the model thread, waiting up to ``timeout`` s for the computation in
        progress (a process must not exit while a thread is inside JAX); idempotent."""
        with self._lock:
            self._closed = True
            for fut, _ in self._jobs:
                fut.set_result({"fields": {}, "notes": ["the dashboard is stopping"]})
            self._jobs.clear()
            self._lock.notify_all()
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.join(timeout=timeout)

    def _drop(self, fut: Future) -> None:
        """A spectrum pushed out of the cache before its models were computed."""
        for j, (f, _) in enumerate(self._jobs):
            if f is fut:
                del self._jobs[j]
                fut.set_result({"fields": {}, "notes": ["models skipped: newer spectra "
                                                        "were asked for"]})
                return

    def _work(self) -> None:
        """One model computation at a time, newest request first (the page asks for the
        newest spectrum; older requests wait or are dropped from the cache)."""
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._jobs or self._closed)
                if self._closed:
                    return
                fut, args = self._jobs.pop()
            try:
                fut.set_result(self._models(*args))
            except BaseException as exc:         # noqa: BLE001 - reported with the answer
                fut.set_result({"fields": {}, "notes": [f"models not computed: {exc}"]})

    def _models(self, f, Z, circuit, p, threshold) -> dict:
        """Fitted curve (at the data and on a fine grid) and lin-KK residuals."""
        fields: dict = {}
        notes: list = []
        if circuit is not None and f.size and np.all(np.isfinite(p)):
            try:
                from ..circuit import Circuit

                c = Circuit(circuit)
                Zf = np.asarray(c.impedance(f, p))
                fine = np.logspace(np.log10(f.min()), np.log10(f.max()), _CURVE_POINTS)
                Zc = np.asarray(c.impedance(fine, p))
                fields["fit"] = {"re": Zf.real, "im": Zf.imag}
                fields["curve"] = {"freq": fine, "re": Zc.real, "im": Zc.imag}
            except FastfitError as exc:
                notes.append(f"fitted curve not drawn: {exc}")
        if f.size >= 3:
            try:
                from ..validation import kk

                r = kk(f[None, :], Z[None, :], max_rel_residual=threshold)
                fields["kk"] = {"residuals_real": np.asarray(r.residuals_real[0]),
                                "residuals_imag": np.asarray(r.residuals_imag[0]),
                                "mask": np.asarray(r.mask[0], bool),
                                "valid": bool(r.valid[0]), "mu": float(r.mu[0]),
                                "M": int(r.M[0]), "threshold": threshold}
            except FastfitError as exc:
                notes.append(f"KK residuals not computed: {exc}")
        return {"fields": fields, "notes": notes}
