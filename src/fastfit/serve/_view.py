"""`StoreView`: what the dashboard shows of a store, read without disturbing its writer.

Reading a store that ``fastfit stream`` is writing
--------------------------------------------------
The writer appends in HDF5's SWMR mode and briefly reopens the file in ordinary write
mode to create new columns or runs (docs/store-schema.md).  A reader that kept the file
open would hold HDF5's shared file lock, and the writer's reopen would wait for it.  So
the view never keeps the file open: every refresh opens a read-only `Store`, reads what
changed, and closes it again within milliseconds (the writer retries a held lock every
0.1 s, so a collision costs it at most that).  A refresh happens only when the file's
size, modification time or inode changed (``os.stat`` is the whole cost of an idle poll).

A refresh has two phases: the counts (spectra, fitted and failed spectra of the shown
runs, the newest spectrum's fit) come from a few small columns and are published first;
then the full parameter columns and the derived quantities are read.  Readers of the
view get consistent snapshots (each phase swaps whole objects under a lock).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..store import Store
from ._derived import derived_columns
from ._json import dumps
from ._thin import thin_indices

__all__ = ["StoreView", "RunData", "NotFound", "open_store"]


class NotFound(StoreError):
    """A run, column or spectrum that the store does not hold (the API answers 404)."""


def open_store(path, timeout: float = 10.0) -> Store:
    """`Store` (read only) of ``path``, retried for up to ``timeout`` s while the file is
    missing or a writer holds it between two states (the API answers 503 after that)."""
    t_end = time.monotonic() + timeout
    while True:
        try:
            return Store(path, "r")
        except StoreError:
            if time.monotonic() > t_end:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class RunData:
    """The fit results of one run (latest row per spectrum, sorted by spectrum).

    Attributes
    ----------
    name, circuit : str
    names, units : list of str, parameters and their units
    options : dict, the run's options
    spectrum : (N,) int, store indices;  time : (N,) s, the store's common clock
    params, stderr : (N, P) float;  chi2, chi2_red : (N,) float;  status : (N,) int
    derived : dict, see :func:`fastfit.serve.derived_columns`
    n_rows : int, committed fit rows when read (a change means new results)
    """

    name: str
    circuit: str
    names: list
    units: list
    options: dict
    spectrum: np.ndarray
    time: np.ndarray
    params: np.ndarray
    stderr: np.ndarray
    chi2: np.ndarray
    chi2_red: np.ndarray
    status: np.ndarray
    derived: dict = field(default_factory=dict)
    n_rows: int = 0

    @property
    def area_cm2(self):
        a = self.options.get("area_cm2")
        return None if a is None else float(a)


def _empty_counts() -> dict:
    return {"spectra": 0, "runs": [], "fit_runs": {}, "latest": None}


class StoreView:
    """Cached read-only view of a store for the dashboard.

    Parameters
    ----------
    path : str or Path, the store (it may not exist yet: the view waits for it)
    run : str, optional, the fit run shown by default (default: the last fit run)

    `refresh` (or `poll`, which first checks whether the file changed) reads the store;
    `counts`, `run_data` and `params` answer from the cache.  ``version`` increases
    whenever the counts change, ``params_version`` whenever parameter columns do.
    """

    def __init__(self, path, run: str | None = None):
        self.path = Path(path)
        self.run = run
        self.version = 0
        self.params_version = 0
        self.error: str | None = None
        self.read_seconds = 0.0
        self._lock = threading.Lock()
        self._counts = _empty_counts()
        self._runs: dict[str, RunData] = {}
        self._wanted: set = set()
        self._stamp = None

    # ---------------------------------------------------------------- reading
    def _file_stamp(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def poll(self) -> bool:
        """Refresh when the file changed since the last read; True when data changed."""
        stamp = self._file_stamp()
        if stamp is not None and stamp == self._stamp:
            return False
        return self.refresh()

    def refresh(self) -> bool:
        """Read the store now; True when the counts or parameter columns changed.

        Errors (no file yet, a writer between two states) are kept in ``error`` and the
        previous snapshot stays; nothing raises.
        """
        t0 = time.perf_counter()
        stamp = self._file_stamp()
        if stamp is None:
            return self._set_error(f"{self.path}: waiting for the store to be created")
        try:
            with Store(self.path, "r") as st:
                changed = self._read_counts(st)
                changed |= self._read_runs(st)
        except (StoreError, OSError, KeyError, ValueError, RuntimeError) as exc:
            return self._set_error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        self._stamp = stamp
        self.error = None
        self.read_seconds = time.perf_counter() - t0
        return changed

    def _set_error(self, msg: str) -> bool:
        changed = msg != self.error
        self.error = msg
        if changed:
            with self._lock:
                self.version += 1
        return changed

    def _fit_runs(self, st) -> dict:
        out = {}
        for r in st.runs():
            info = st.run_info(r)
            if "param_names" in info:
                out[r] = info
        return out

    def default_run(self) -> str | None:
        """The run shown when none is asked for: the view's ``run``, else the last fit run."""
        if self.run is not None:
            return self.run
        names = list(self._counts["fit_runs"])
        return names[-1] if names else None

    def _read_counts(self, st) -> bool:
        n = len(st)
        infos = self._fit_runs(st)
        fit_runs = {}
        for r, info in infos.items():
            res = st.results(r, "fit", columns=["status"])
            fit_runs[r] = {"circuit": info.get("circuit", ""), "n_rows": info.get("n_fit", 0),
                           "fitted": int(res["spectrum"].size),
                           "failed": int((res["status"] < 0).sum()),
                           "kk": "n_kk" in info, "options": info.get("options", {}),
                           "names": list(info["param_names"]),
                           "units": list(info.get("units", [])),
                           "created": info.get("created")}
        counts = {"spectra": n, "runs": st.runs(), "fit_runs": fit_runs,
                  "latest": self._latest(st, n, fit_runs)}
        with self._lock:
            changed = dumps(counts) != dumps(self._counts)
            if changed:
                self._counts = counts
                self.version += 1
        return changed

    def _latest(self, st, n: int, fit_runs: dict):
        if n == 0:
            return None
        i = n - 1
        t = st.times([i])
        out = {"spectrum": i, "time": float(t[0]) if t.size else None, "fits": {}}
        for r in fit_runs:
            row = st.results(r, "fit", spectra=[i],
                             columns=["params", "stderr", "chi2_red", "status"])
            if row["spectrum"].size:
                names = fit_runs[r]["names"]
                status = int(row["status"][0])
                out["fits"][r] = {
                    "fit_status": status, "ok": status > 0,
                    "chi2_red": float(row["chi2_red"][0]),
                    "params": dict(zip(names, row["params"][0].tolist())),
                    "stderr": dict(zip(names, row["stderr"][0].tolist()))}
            if fit_runs[r]["kk"]:
                k = st.results(r, "kk", spectra=[i], columns=["valid", "mu", "M"])
                if k["spectrum"].size:
                    out.setdefault("kk", {})[r] = {"valid": bool(k["valid"][0]),
                                                   "mu": float(k["mu"][0]), "M": int(k["M"][0])}
        return out

    def _read_runs(self, st) -> bool:
        """Full columns of the runs asked for so far (and the default run)."""
        want = set(self._wanted)
        d = self.default_run()
        if d is not None:
            want.add(d)
        changed = False
        for r in sorted(want):
            meta = self._counts["fit_runs"].get(r)
            if meta is None:
                continue
            old = self._runs.get(r)
            if old is not None and old.n_rows == meta["n_rows"]:
                continue
            res = st.results(r, "fit")
            time_ = st.times(res["spectrum"]) if res["spectrum"].size else np.zeros(0)
            area = meta["options"].get("area_cm2")
            derived = derived_columns(meta["names"], meta["units"], meta["circuit"],
                                      res["params"], res["stderr"],
                                      None if area is None else float(area))
            data = RunData(name=r, circuit=meta["circuit"], names=meta["names"],
                           units=meta["units"], options=meta["options"],
                           spectrum=res["spectrum"].astype(np.int64), time=time_,
                           params=res["params"], stderr=res["stderr"], chi2=res["chi2"],
                           chi2_red=res["chi2_red"], status=res["status"].astype(np.int64),
                           derived=derived, n_rows=meta["n_rows"])
            with self._lock:
                self._runs[r] = data
                self.params_version += 1
            changed = True
        return changed

    # ---------------------------------------------------------------- answers
    def counts(self) -> dict:
        """The latest counts snapshot (spectra, runs, per-run fitted / failed, latest)."""
        with self._lock:
            return self._counts

    def run_data(self, run: str | None = None) -> RunData:
        """Parameter columns of ``run`` (default run when None); StoreError if unknown."""
        r = run or self.default_run()
        with self._lock:
            data = self._runs.get(r) if r is not None else None
            known = self._counts["fit_runs"]
        if data is None:
            if r is None or r not in known:
                have = ", ".join(known) or "none yet"
                raise NotFound(f"{self.path}: no fit run {r!r} (fit runs: {have})")
            self._wanted.add(r)
            self._stamp = None            # read it on the next poll ...
            self.refresh()                # ... or now
            with self._lock:
                data = self._runs.get(r)
            if data is None:
                raise StoreError(f"{self.path}: run {r!r} could not be read ({self.error})")
        return data

    def params(self, run: str | None = None, columns=None, max_points: int | None = None,
               since: int = 0) -> dict:
        """Columns of a fit run for the API (see docs/dashboard.md, ``/api/params``).

        Parameters
        ----------
        run : str, optional
        columns : list of str, optional -- parameter or derived names (default: all)
        max_points : int, optional -- thin the rows for drawing (extremes of the chosen
            columns kept, see :func:`fastfit.serve.thin_indices`)
        since : int -- only rows whose store index is >= this
        """
        data = self.run_data(run)
        names = list(data.names) + list(data.derived)
        cols = names if not columns else list(columns)
        bad = [c for c in cols if c not in names]
        if bad:
            raise NotFound(f"{self.path}: run {data.name!r} has no column {bad[0]!r} "
                             f"(columns: {', '.join(names)})")
        rows = np.nonzero(data.spectrum >= since)[0] if since else np.arange(data.spectrum.size)
        values, errors = {}, {}
        for c in cols:
            if c in data.derived:
                d = data.derived[c]
                values[c], errors[c] = d["values"], d["stderr"]
            else:
                k = data.names.index(c)
                values[c], errors[c] = data.params[:, k], data.stderr[:, k]
        thinned = False
        if max_points is not None and rows.size > max_points:
            y = np.stack([values[c][rows] for c in cols], axis=1) if cols else rows[:, None]
            rows = rows[thin_indices(y, max_points)]
            thinned = True
        out = {"spectrum": data.spectrum[rows], "time": data.time[rows],
               "status": data.status[rows], "chi2": data.chi2[rows],
               "chi2_red": data.chi2_red[rows]}
        for c in cols:
            out[c] = values[c][rows]
            if errors[c] is not None:
                out[f"{c}_stderr"] = errors[c][rows]
        units = dict(zip(data.names, data.units))
        units.update({k: v["unit"] for k, v in data.derived.items()})
        labels = {k: v["label"] for k, v in data.derived.items()}
        return {"run": data.name, "circuit": data.circuit, "n": int(data.spectrum.size),
                "rows": int(rows.size), "thinned": thinned, "params": list(data.names),
                "derived": list(data.derived), "units": units, "labels": labels,
                "columns": out}
