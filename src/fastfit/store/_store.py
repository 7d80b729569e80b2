"""`Store`: one HDF5 file with spectra and named analysis runs (see docs/store-schema.md)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import StoreError
from . import _table as tb
from ._h5file import SideLock, open_h5
from ._runs import PARTS, RunsMixin
from ._spectra import KEY_DTYPE, assemble_series, info_columns, source_rows, spectrum_keys, t0_offsets
from ._stamps import created_now, fastfit_version

__all__ = ["Store", "SCHEMA_VERSION", "FORMAT"]

SCHEMA_VERSION = 1
FORMAT = "fastfit-store"
_SPECTRA_1D = {"n_cols": "i4", "time": "f8", "time_end": "f8", "source": "i8",
               "index_in_source": "i8", "key": KEY_DTYPE}
_SPECTRA_2D = {"freq": "f8", "z_real": "f8", "z_imag": "f8", "mask": "u1"}
_SOURCE_COLS = {"path": str, "format": str, "technique": str, "t0": str, "meta_json": str,
                "size": "i8", "mtime_ns": "i8"}
_INFO_FILL = {"f": ("f8", np.nan), "i": ("i8", -1), "b": ("u1", 0), "s": (str, None)}


def _strs(a) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(a).tolist()]


class Store(RunsMixin):
    """HDF5 store of impedance spectra and analysis results.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file.
    mode : {"a", "r", "r+", "w"}
        "a" read/write, created if missing (default); "r" read only; "r+" read/write,
        must exist; "w" create, truncating an existing file.

    One process at a time may write a store (others get :class:`StoreError`); any number
    may read it, also while it is being written.  Appends are crash safe: a writer killed
    at any moment leaves a store that opens with every committed row intact, and
    uncommitted tails are dropped when it is next opened for writing.

    Examples
    --------
    >>> with Store("run.h5") as st:                       # doctest: +SKIP
    ...     idx = st.append_spectra(series)
    ...     st.write_fit("fit", idx, ff.fit(series, circuit), circuit, {"weight": "modulus"})
    ...     df = st.params("fit")
    """

    def __init__(self, path, mode: str = "a"):
        if mode not in ("a", "r", "r+", "w"):
            raise StoreError(f"{path}: mode must be 'a', 'r', 'r+' or 'w', got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._lock: SideLock | None = None
        self._f = None
        self._state = "closed"
        self._keys: dict | None = None
        self._src_keys: dict | None = None
        self._fingerprints: dict | None = None
        self._members = None
        self._tabs: dict = {}          # open column handles of the writer (see _tab)
        self._run_ok: set = set()      # (run, attrs, options) already checked / written
        self.recovered_rows = 0
        if mode == "r":
            if not self.path.exists():
                raise StoreError(f"{self.path}: no such store file")
            self._f = open_h5(self.path, "r")
            self._state = "read"
            self._check_schema()
            return
        if mode == "r+" and not self.path.exists():
            raise StoreError(f"{self.path}: no such store file")
        self._lock = SideLock(self.path)
        if not self._lock.acquire():
            self._lock = None
            raise StoreError(f"{self.path}: the store is open for writing in another process")
        try:
            fresh = mode == "w" or not self.path.exists() or self.path.stat().st_size == 0
            self._f = open_h5(self.path, "w" if fresh else "r+", have_side_lock=True)
            self._state = "write"
            if fresh or (not self._f.attrs and not len(self._f)):
                self._init_layout()
            else:
                self._check_schema()
                self._recover()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ file states
    def _init_layout(self) -> None:
        f = self._f
        f.attrs.update(format=FORMAT, schema_version=SCHEMA_VERSION, created=created_now(),
                       fastfit_version=fastfit_version())
        tb.create_table(f, "spectra")
        src = tb.create_table(f, "sources")
        for name, dt in _SOURCE_COLS.items():
            tb.ensure_column(src, name, dt)
        f.create_group("runs", track_order=True)
        f.flush()

    def _check_schema(self) -> None:
        attrs = self._f.attrs
        if attrs.get("format") != FORMAT:
            raise StoreError(f"{self.path}: not a fastfit store (no format={FORMAT!r} attribute)")
        version = int(attrs.get("schema_version", -1))
        if version > SCHEMA_VERSION or version < 1:
            raise StoreError(f"{self.path}: store schema version {version} is not supported "
                             f"(this fastfit reads version {SCHEMA_VERSION})")

    def _tables(self):
        yield self._f["spectra"]
        yield self._f["sources"]
        for run in self._f["runs"].values():
            for part in PARTS:
                if part in run:
                    yield run[part]

    def _recover(self) -> None:
        self.recovered_rows = sum(tb.truncate_uncommitted(t) for t in self._tables())
        self._f.flush()

    def _writable(self) -> None:
        if self._state in ("closed", "read"):
            raise StoreError(f"{self.path}: store is {'closed' if self._state == 'closed' else 'open read-only'}")

    def _tab(self, path: str) -> "tb.Table":
        """Cached writer view of table ``path`` (column handles, committed count)."""
        t = self._tabs.get(path)
        if t is None:
            t = self._tabs[path] = tb.Table(self._f[path])
        return t

    def _drop_tables(self) -> None:
        """Forget open handles: before the file is closed, reopened or restructured."""
        self._tabs.clear()
        self._run_ok.clear()

    def _count(self, path: str) -> int:
        """Committed rows of table ``path`` (kept in memory by a writer)."""
        if self._state in ("write", "swmr"):
            return self._tab(path).n
        return self._n(self._f[path])

    def _structure(self) -> None:
        """Ordinary write mode (needed to create groups and datasets)."""
        self._writable()
        self._drop_tables()              # the caller changes the structure
        if self._state == "swmr":
            self._f.close()
            # a reader may hold HDF5's shared lock for a moment: wait up to 30 s for it
            self._f = open_h5(self.path, "r+", have_side_lock=True, retries=300)
            self._state = "write"

    def _appending(self) -> None:
        """SWMR write mode: appends keep the file consistent on disk at every moment."""
        self._writable()
        if self._state == "write":
            self._drop_tables()          # no open handles across the mode switch
            self._f.flush()
            try:
                self._f.swmr_mode = True
                self._state = "swmr"
            except (ValueError, OSError, RuntimeError):   # old-format file: plain appends
                pass

    def _refresh(self, table, names=()) -> None:
        if self._state == "read" and getattr(self._f, "swmr_mode", False):
            table[tb.COUNT].refresh()
            for n in names:
                table[n].refresh()

    def _n(self, table) -> int:
        self._refresh(table)
        return tb.committed(table)

    def _col(self, table, name, rows=None, n=None):
        self._refresh(table, [name])
        return tb.read_column(table, name, rows, n)

    def flush(self) -> None:
        if self._f is not None and self._state != "read":
            self._f.flush()

    def close(self) -> None:
        """Flush and close the file and release the writer lock (idempotent)."""
        self._drop_tables()
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._state = "closed"

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        if self._f is None:
            return f"Store({str(self.path)!r}, closed)"
        return f"Store({str(self.path)!r}, {len(self)} spectra, runs={self.runs()})"

    # ----------------------------------------------------------------- spectra
    def __len__(self) -> int:
        self._open_check()
        return self._count("spectra")

    def _open_check(self) -> None:
        if self._f is None:
            raise StoreError(f"{self.path}: store is closed")

    def _key_index(self) -> dict:
        if self._keys is None:
            sp = self._f["spectra"]
            keys = self._col(sp, "key") if "key" in sp else np.zeros(0, KEY_DTYPE)
            self._keys = {k: i for i, k in enumerate(keys.tolist())}
        return self._keys

    def append_spectra(self, series) -> np.ndarray:
        """Add the spectra of a :class:`~fastfit.SpectrumSeries`; return their store indices.

        Spectra already in the store (same source position and data, see
        docs/store-schema.md) are not added again: their existing indices are returned.
        """
        self._writable()
        if not all(hasattr(series, a) for a in ("freq", "Z", "mask", "time", "info")):
            raise StoreError(f"{self.path}: append_spectra needs a SpectrumSeries, "
                             f"got {type(series).__name__}")
        n = len(series)
        pos = np.asarray(series.info.get("index", np.arange(n)), np.int64).reshape(-1)
        keys = spectrum_keys(series, pos)
        known = self._key_index()
        start = len(self)
        out = np.empty(n, np.int64)
        new: list[int] = []
        pending: dict = {}
        for i, k in enumerate(keys.tolist()):
            j = known.get(k, pending.get(k))
            if j is None:
                j = pending[k] = start + len(new)
                new.append(i)
            out[i] = j
        if not new:
            return out
        new_idx = np.asarray(new)
        sub = series[new_idx] if len(new_idx) < n else series
        records, local = source_rows(series)
        local = local[new_idx]
        needed = np.unique(local)
        infos = info_columns(sub.info, len(new_idx))
        m, F = len(new_idx), sub.Z.shape[1]
        # sources: reuse an identical committed record (same file, same metadata)
        s0 = self._count("sources")
        have = self._source_index()
        src_map = np.full(len(records), -1, np.int64)
        fresh = []
        for j in needed:
            rec = tuple(records[j][c] for c in _SOURCE_COLS)
            if rec in have:
                src_map[j] = have[rec]
            else:
                src_map[j] = s0 + len(fresh)
                fresh.append(j)
        src_rows = {c: (tb.encode_strings([records[j][c] for j in fresh]) if dt is str
                        else np.array([records[j][c] for j in fresh], dt))
                    for c, dt in _SOURCE_COLS.items()}
        rows = {"freq": sub.freq, "z_real": sub.Z.real, "z_imag": sub.Z.imag,
                "mask": sub.mask.astype(np.uint8), "n_cols": np.full(m, F, np.int32),
                "time": sub.time, "time_end": sub.time_end, "source": src_map[local],
                "index_in_source": pos[new_idx], "key": keys[new_idx]}
        rows.update({f"info/{k}": (tb.encode_strings(a) if kind == "s" else a)
                     for k, (kind, a) in infos.items()})
        rows.update({f"points/{k}": a for k, a in sub.points.items()})
        # structure first (ordinary write mode), then the appends (SWMR mode)
        sp = self._tab("spectra")
        missing = [c for c in rows if c not in sp]
        if missing or tb.narrow_strings(self._tab("sources"), src_rows) or tb.narrow_strings(
                sp, {c: v for c, v in rows.items() if c in sp}):
            self._structure()
            sp, src = self._f["spectra"], self._f["sources"]
            for c in missing:
                kind = infos[c[5:]][0] if c.startswith("info/") else None
                dt, fill = (_INFO_FILL[kind] if kind else
                            (_SPECTRA_1D.get(c) or _SPECTRA_2D.get(c) or "f8", None))
                wide = c in _SPECTRA_2D or c.startswith("points/")
                tb.ensure_column(sp, c, dt, F if wide else None, fill=fill)
            for table, r in ((src, src_rows), (sp, rows)):
                for c, width in tb.narrow_strings(table, r).items():
                    tb.widen_strings(table, c, width)
            self._f.flush()
            sp = self._tab("spectra")
        for c in sorted(sp.columns()):         # info / points absent in this series
            if c.startswith("info/") and c not in rows:
                ds = sp.col(c)
                rows[c] = np.full(m, ds.fillvalue, dtype=ds.dtype)
            elif c.startswith("points/") and c not in rows:
                rows[c] = np.full((m, F), np.nan)
        self._appending()
        if fresh:
            tb.append_rows(self._tab("sources"), src_rows, self._f.flush)
            for j in fresh:
                have[tuple(records[j][c] for c in _SOURCE_COLS)] = int(src_map[j])
            self._fingerprints = None
        self._members = None
        tb.append_rows(self._tab("spectra"), rows, self._f.flush)
        klist = keys.tolist()
        for i in new:
            known[klist[i]] = int(out[i])
        return out

    def _source_index(self) -> dict:
        if self._src_keys is None:
            s = self._sources()
            n = len(s["path"])
            self._src_keys = {tuple(s[c][i].item() if isinstance(s[c][i], np.generic) else s[c][i]
                                    for c in _SOURCE_COLS): i for i in range(n)}
        return self._src_keys

    def _sources(self) -> dict:
        src = self._f["sources"]
        n = self._n(src)
        return {c: (_strs(self._col(src, c, n=n)) if dt is str else self._col(src, c, n=n))
                for c, dt in _SOURCE_COLS.items()}

    def spectra(self, indices=None):
        """The stored spectra (all, or the given store indices) as a SpectrumSeries.

        ``time`` is on one clock for all sources: seconds since the earliest source
        start time (``meta['t0']``) when the sources state one.  ``info`` holds
        ``store_index``, ``index`` (position in the source), ``source_id`` (into
        ``meta['sources']``) and the per-spectrum values the readers gave.
        """
        self._open_check()
        sp = self._f["spectra"]
        n = self._n(sp)
        if n == 0:
            raise StoreError(f"{self.path}: the store holds no spectra")
        rows = None if indices is None else self._check_indices(indices)
        cols = {c: self._col(sp, c, rows, n) for c in (*_SPECTRA_1D, *_SPECTRA_2D) if c != "key"}
        for group in ("info", "points"):
            if group in sp:
                cols[group] = {}
                for name in sp[group]:
                    a = self._col(sp, f"{group}/{name}", rows, n)
                    cols[group][name] = np.array(_strs(a), dtype=object) if a.dtype.kind in "OS" else a
        store_index = np.arange(n) if rows is None else rows
        return assemble_series(cols, self._sources(), str(self.path), store_index)

    def _check_indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu" and idx.size:
            raise StoreError(f"{self.path}: spectrum indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        n = len(self)
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            raise StoreError(f"{self.path}: spectrum index {int(bad[0])} out of range "
                             f"(the store holds {n} spectra)")
        return idx

    def source_indices(self, path) -> np.ndarray | None:
        """Store indices of the spectra ingested from file ``path`` if it is unchanged
        since (same absolute path, size and modification time), else None."""
        import os

        full = os.path.abspath(str(path))
        try:
            st = os.stat(full)
        except OSError:
            return None
        if self._fingerprints is None:
            s = self._sources()
            self._fingerprints = {}
            for i, (p, size, mt) in enumerate(zip(s["path"], s["size"], s["mtime_ns"])):
                self._fingerprints.setdefault((p, int(size), int(mt)), []).append(i)
        hits = self._fingerprints.get((full, int(st.st_size), int(st.st_mtime_ns)))
        if not hits or len(self) == 0:
            return None
        if self._members is None:
            sp = self._f["spectra"]
            source, pos = self._col(sp, "source"), self._col(sp, "index_in_source")
            order = np.lexsort((pos, source))
            bounds = np.searchsorted(source[order], np.arange(source.max() + 2))
            self._members = (order, bounds)
        order, bounds = self._members
        parts = [order[bounds[h]:bounds[h + 1]] for h in hits if h + 1 < bounds.size]
        sel = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return sel if sel.size else None

    def times(self, indices=None) -> np.ndarray:
        """(N,) spectrum start times on the store's common clock (see `spectra`)."""
        sp = self._f["spectra"]
        rows = None if indices is None else self._check_indices(indices)
        if self._n(sp) == 0:
            return np.zeros(0)
        off, _ = t0_offsets(self._sources()["t0"])
        return self._col(sp, "time", rows) + off[self._col(sp, "source", rows)]
