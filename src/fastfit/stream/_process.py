"""The worker side of the pipeline: store, KK, fit, DRT -- a batch of spectra at a time.

Everything that touches the store runs here, in one thread, in arrival order; the KK /
fit / DRT of a batch run in a helper thread while its spectra are being stored.
When spectra arrive faster than one is processed, the ones waiting are processed
together (up to `MAX_BATCH`): one store append, one batched KK, one batched fit, one
result write -- the compiled programs are the same (batch sizes up to 8 share the
bucket-8 programs), so batching costs no compile and keeps the latency bounded at high
point rates.  Spectra on one frequency grid get bit-identical results either way.
"""
from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from ..errors import DataError, StoreError
from ..series import SpectrumSeries
from ._assembler import Assembled
from ._results import StreamResult

__all__ = ["Processor", "MAX_BATCH"]

MAX_BATCH = 8


def _jsonish(v):
    import json

    from ..store import options_json

    return json.loads(options_json({"v": v}))["v"]


class Processor:
    """Store / fit state of one pipeline run (used from the worker thread only)."""

    def __init__(self, circuit, store_arg, run: str, options: dict, *, weight, kk, drt,
                 warm_start, fit_options):
        self.circuit, self.run, self.options = circuit, run, options
        self.weight, self.kk, self.drt = weight, kk, drt
        self.warm_start, self.fit_options = warm_start, dict(fit_options or {})
        self.store_arg = store_arg
        self.store = None
        self._own = False
        self._cache: dict = {}
        self._width = 0
        self._prev = None
        self._pool = None
        self._speculate = True

    # --------------------------------------------------------------- store
    def open(self) -> None:
        from ..store import Store

        from concurrent.futures import ThreadPoolExecutor

        st = self.store_arg
        self._own = not hasattr(st, "append_spectra")
        self.store = Store(st, "a") if self._own else st
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastfit-fit")
        if self.circuit is None or self.run not in self.store.runs():
            return
        info = self.store.run_info(self.run)
        old = info.get("options", {})
        diff = sorted(k for k in set(old) | set(self.options)
                      if old.get(k) != _jsonish(self.options.get(k)))
        if info.get("kind") != "fit" or diff:
            what = (f"is a {info.get('kind')} run" if info.get("kind") != "fit"
                    else "was made with other " + ", ".join(diff))
            path = self.store.path
            self.close()
            raise StoreError(f"{path}: run {self.run!r} {what}; choose another run name")
        r = self.store.results(self.run, "fit")
        for j, s in enumerate(r["spectrum"].tolist()):
            self._cache[s] = {k: v[j] for k, v in r.items()}
        self._speculate = not self._cache        # resuming: fit only what is missing

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._own and self.store is not None:
            self.store.close()
        self.store = None

    def warmup(self, freq: np.ndarray) -> None:
        """Compile the fit (and KK / DRT) programs for spectra on grid ``freq`` before the
        first spectrum is complete, from a model spectrum; nothing is stored."""
        if self.circuit is None or freq.size < 3:
            return
        try:
            from ..fitting import fit

            Z = self.circuit.impedance(freq, self.circuit.default_values)[None, :]
            f = freq[None, :]
            mask = np.ones(f.shape, bool)
            if self.kk is not None:
                from ..validation import kk

                kk(f, Z, mask=mask, max_rel_residual=self.kk)
            fit(f, Z, self.circuit, mask=mask, weight=self.weight, **self.fit_options)
            self._warm_deep(f, Z, mask)
            if self.drt:
                self._drt(f, Z, mask)
        except Exception:                 # noqa: BLE001 - a warm-up must never stop a run
            pass

    def _warm_deep(self, f, Z, mask) -> None:
        """Also compile the fit's second escalation round (``fitting._driver``: a fit
        from ``DEEP_STARTS`` starts without moves), which a spectrum the circuit does not
        describe triggers: otherwise its compile (seconds) delays that spectrum."""
        from ..fitting import DEEP_STARTS, fit

        opts = dict(self.fit_options)
        if not (opts.get("escalate", True) and 0 < opts.get("starts", 2) < DEEP_STARTS):
            return
        opts.update(starts=DEEP_STARTS, escalate=False, relocate=False)
        fit(f, Z, self.circuit, mask=mask, weight=self.weight, **opts)

    def names(self) -> list:
        return [] if self.circuit is None else list(self.circuit.param_names)

    # -------------------------------------------------------------- batches
    def process(self, batch: list[Assembled]) -> list[StreamResult]:
        """Store the spectra of ``batch`` and fit those that need it; one result each.

        While new data streams in, the KK / fit / DRT of the batch run in a helper
        thread *while* the spectra are appended to the store (XLA computes without the
        GIL), and the results are committed once both are done.  When re-ingesting
        stored data (a resumed run) nothing is computed before the store says which
        spectra still lack a fit.
        """
        st = self.store
        n0 = len(st)
        cands = [j for j, a in enumerate(batch) if not a.partial] if self.circuit else []
        fut = None
        if cands and self._speculate:
            fut = self._pool.submit(self._compute, [batch[j].series.spectrum(0) for j in cands])
        if len(batch) == 1:
            series = batch[0].series
        else:
            cat = SpectrumSeries.concat([a.series for a in batch])
            info = {k: v for k, v in cat.info.items() if k != "source_id"}
            series = replace(cat, meta=batch[0].series.meta, info=info)
        try:
            idx = st.append_spectra(series).tolist()
        except BaseException:
            if fut is not None:
                fut.exception()                  # let the helper finish first
            raise
        if any(i >= n0 for i in idx):
            self._speculate = True               # new data: compute while storing from now on
        base, todo = [], []
        for j, a in enumerate(batch):
            f, Z = a.series.spectrum(0)
            base.append(dict(store_index=idx[j], source_index=a.index, n_points=int(f.size),
                             time=float(a.series.time[0]), time_end=float(a.series.time_end[0]),
                             freq=f, Z=Z, param_names=self.names(), reason=a.reason,
                             arrival=a.arrival))
        out: list = [None] * len(batch)
        for j, a in enumerate(batch):
            if a.partial:
                out[j] = StreamResult("partial", message="sweep stopped short; not fitted",
                                      **base[j])
            elif self.circuit is None:
                out[j] = StreamResult("stored" if idx[j] >= n0 else "resumed", **base[j])
            elif idx[j] in self._cache:
                row = self._cache[idx[j]]
                self._prev = np.asarray(row["params"], np.float64)
                out[j] = StreamResult("resumed", params=self._prev, stderr=row["stderr"],
                                      chi2=float(row["chi2"]), chi2_red=float(row["chi2_red"]),
                                      fit_status=int(row["status"]), ok=bool(row["status"] > 0),
                                      **base[j])
            else:
                todo.append(j)
        done = None
        if fut is not None:
            exc = fut.exception()
            if todo == cands:
                done = exc if exc is not None else fut.result()
        if todo:
            spectra = [(base[j]["freq"], base[j]["Z"]) for j in todo]
            try:
                if done is None:
                    done = self._compute(spectra)
                elif isinstance(done, BaseException):
                    raise done
                self._commit(todo, base, out, *done)
            except DataError as exc:
                if len(todo) > 1:                # find the spectrum that cannot be fitted
                    for j in todo:
                        self._one(j, base, out)
                else:
                    out[todo[0]] = StreamResult("failed", message=str(exc),
                                                stored_at=time.monotonic(), **base[todo[0]])
        now = time.monotonic()
        return [r if not np.isnan(r.stored_at) else replace(r, stored_at=now) for r in out]

    def _one(self, j, base, out) -> None:
        try:
            self._commit([j], base, out, *self._compute([(base[j]["freq"], base[j]["Z"])]))
        except DataError as exc:
            out[j] = StreamResult("failed", message=str(exc), stored_at=time.monotonic(),
                                  **base[j])

    def _compute(self, spectra: list) -> tuple:
        """KK, fit and DRT of spectra [(freq, Z), ...] on one padded grid; raises
        DataError when a spectrum cannot be fitted."""
        from ..fitting import fit

        W = self._width = max(self._width, *(f.size for f, _ in spectra))
        B = len(spectra)
        freq = np.empty((B, W))
        Z = np.empty((B, W), np.complex128)
        mask = np.zeros((B, W), bool)
        for r, (f, z) in enumerate(spectra):
            freq[r], Z[r] = f[-1], z[-1]
            freq[r, :f.size], Z[r, :f.size], mask[r, :f.size] = f, z, True
        kres, kk_fields = None, [{} for _ in spectra]
        if self.kk is not None:
            from ..validation import kk

            kres = kk(freq, Z, mask=mask, max_rel_residual=self.kk)
            used = mask.sum(axis=1)
            mask = np.asarray(kres.mask, bool) & mask
            kk_fields = [dict(kk_valid=bool(kres.valid[r]), kk_mu=float(kres.mu[r]),
                              n_excluded=int(used[r] - mask[r].sum())) for r in range(B)]
        p0 = self._prev if (self.warm_start and self._prev is not None
                            and np.all(np.isfinite(self._prev))) else None
        try:
            res = fit(freq, Z, self.circuit, p0=p0, mask=mask, weight=self.weight,
                      **self.fit_options)
        except DataError:
            if p0 is None:
                raise
            res = fit(freq, Z, self.circuit, mask=mask, weight=self.weight, **self.fit_options)
        dres = self._drt(freq, Z, mask) if self.drt else None
        return res, kres, dres, kk_fields

    def _commit(self, todo, base, out, res, kres, dres, kk_fields) -> None:
        idx = [base[j]["store_index"] for j in todo]
        self.store.write_fit(self.run, idx, res, self.circuit, self.options, kk=kres, drt=dres)
        stored = time.monotonic()
        for r, j in enumerate(todo):
            p = np.asarray(res.params[r], np.float64)
            self._cache[idx[r]] = {"params": p, "stderr": res.stderr[r], "chi2": res.chi2[r],
                                   "chi2_red": res.chi2_red[r], "status": res.status[r]}
            if np.all(np.isfinite(p)):
                self._prev = p
            out[j] = StreamResult("fitted", params=p, stderr=np.asarray(res.stderr[r]),
                                  chi2=float(res.chi2[r]), chi2_red=float(res.chi2_red[r]),
                                  fit_status=int(res.status[r]), ok=bool(res.ok[r]),
                                  stored_at=stored, **kk_fields[r], **base[j])

    def _drt(self, freq, Z, mask):
        """DRT of each spectrum on its own (its tau grid then depends on that spectrum
        only, not on which spectra happened to share a batch)."""
        from ..relaxation import drt

        opts = self.drt if isinstance(self.drt, dict) else {}
        rs = [drt(freq[r:r + 1], Z[r:r + 1], mask=mask[r:r + 1], **opts) for r in range(len(freq))]
        return SimpleNamespace(
            tau=np.stack([np.broadcast_to(np.ravel(d.tau), np.shape(d.gamma)[-1:]) for d in rs]),
            gamma=np.concatenate([np.atleast_2d(d.gamma) for d in rs]),
            **{k: np.concatenate([np.ravel(getattr(d, k)) for d in rs])
               for k in ("R_inf", "L", "lam", "status")})
