"""Analysis runs inside a store: fit, KK, DRT and model-choice result tables.

``/runs/<name>`` is a group whose attributes describe the run (kind, circuit, options,
fastfit version, timestamps) and whose sub-tables ``fit``, ``kk``, ``drt`` and
``compare`` hold one row per analysed spectrum (column ``spectrum`` = row of
``/spectra``).  Rows are only
appended; when a spectrum has several committed rows the last one wins.
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import StoreError
from . import _table as tb
from ._stamps import created_now, fastfit_version

from ._rows import (PARTS, band_rows, compare_rows, drt_rows, fit_rows, kk_rows, latest_rows,
                    options_json, zhit_rows)

__all__ = ["RunsMixin", "PARTS", "options_json"]

class RunsMixin:
    """Run methods of :class:`~fastfit.store.Store` (analysis results per named run)."""

    # ------------------------------------------------------------- structure
    def _run_name(self, run) -> str:
        if not isinstance(run, str) or not run or "/" in run or run in (".", ".."):
            raise StoreError(f"{self.path}: invalid run name {run!r} (a non-empty string "
                             "without '/')")
        return run

    def _run(self, run: str):
        self._open_check()
        run = self._run_name(run)
        if run not in self._f["runs"]:
            known = ", ".join(self.runs()) or "none"
            raise StoreError(f"{self.path}: no run named {run!r} (runs: {known})")
        return self._f["runs"][run]

    def _prepare_run(self, run: str, kind: str, attrs: dict, options) -> None:
        """Create run ``run`` or check that its circuit and options match."""
        run = self._run_name(run)
        opts = options_json(options)
        key = (run, kind, tuple(sorted(attrs.items())), None if options is None else opts)
        if key in self._run_ok:          # checked (or written) before on this open file
            return
        runs = self._f["runs"]
        if run in runs:
            g = runs[run]
            old_c = g.attrs.get("circuit", "")
            new_c = attrs.get("circuit")
            if new_c is not None and old_c and new_c != old_c:
                raise StoreError(f"{self.path}: run {run!r} was fitted with circuit {old_c}, "
                                 f"not {new_c}; choose another run name")
            old_o = g.attrs.get("options", "{}")
            if options is not None and old_o != "{}" and opts != old_o:
                a, b = json.loads(old_o), json.loads(opts)
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                raise StoreError(f"{self.path}: run {run!r} was made with other options "
                                 f"({', '.join(diff)} differ); choose another run name")
            if options is not None and old_o == "{}" and opts != "{}":
                self._structure()
                self._f["runs"][run].attrs["options"] = opts
            for k, v in attrs.items():
                if k not in g.attrs:
                    self._structure()
                    self._f["runs"][run].attrs[k] = v
            self._run_ok.add(key)
            return
        self._structure()
        g = self._f["runs"].create_group(run)
        g.attrs.update(kind=kind, options=opts, fastfit_version=fastfit_version(),
                       created=created_now(), schema_version=self._f.attrs["schema_version"],
                       **attrs)
        self._f.flush()
        self._run_ok.add(key)

    def _write_part(self, run: str, part: str, rows: dict) -> None:
        widths = {"P": None, "F": None, "T": None, "M": None}
        for col, (dt, wkey) in PARTS[part].items():
            if wkey is not None:
                widths[wkey] = np.shape(rows[col])[1]
        path = f"runs/{run}/{part}"
        if path in self._tabs:           # open and complete: nothing to check
            need = False
        else:
            g = self._f["runs"][run]
            need = part not in g or any(c not in g[part] for c in PARTS[part])
        if need:
            self._structure()
            t = tb.create_table(self._f["runs"][run], part)
            for col, (dt, wkey) in PARTS[part].items():
                tb.ensure_column(t, col, dt, None if wkey is None else widths[wkey],
                                 fill=-1 if col in ("n_iter", "n_points") else None)
            self._f.flush()
        self._appending()
        tb.append_rows(self._tab(path), rows, self._f.flush)

    # ----------------------------------------------------------------- writes
    def write_fit(self, run: str, indices, result, circuit=None, options=None, *, kk=None,
                  drt=None) -> None:
        """Append fit results for the store spectra ``indices`` to run ``run``.

        Parameters
        ----------
        run : str
            Run name; created on first use.  A later write with another circuit or other
            options raises :class:`StoreError` (use another name).
        indices : (B,) int
            Store indices (rows of ``spectra()``) the B results belong to.
        result : FitResult
            ``params``/``stderr`` (B, P), ``chi2``, ``chi2_red``, ``status``, ``n_iter``...
        circuit : Circuit or str, optional
            Defaults to ``result.circuit``.
        options : dict, optional
            Analysis options (JSON-serialisable), stored as the run's ``options``.
        kk, drt : KKResult / DRTResult for the same spectra, optional
            Written to the run's ``kk`` / ``drt`` tables (committed before the fit rows).
        """
        self._writable()
        idx = self._check_indices(indices)
        circuit = getattr(result, "circuit", None) if circuit is None else circuit
        if circuit is None:
            raise StoreError(f"{self.path}: run {run!r}: no circuit given")
        cstr = str(circuit)
        names = list(getattr(result, "param_names", None) or _circuit_attr(cstr, "param_names"))
        units = list(getattr(result, "units", None) or _circuit_attr(cstr, "units"))
        rows = fit_rows(result, idx, run, self.path)
        if rows["params"].shape[1] != len(names):
            raise StoreError(f"{self.path}: run {run!r}: {rows['params'].shape[1]} parameters "
                             f"for circuit {cstr} with {len(names)}")
        fixed = getattr(result, "fixed", None)
        attrs = {"circuit": cstr, "param_names": json.dumps(names), "units": json.dumps(units),
                 "weight": str(getattr(result, "weight", "")),
                 "fixed": json.dumps([bool(x) for x in np.asarray(
                     fixed if fixed is not None else np.zeros(len(names), bool)).reshape(-1)])}
        self._prepare_run(run, "fit", attrs, options)
        if kk is not None:
            self._write_part(run, "kk", kk_rows(kk, idx, run, self.path))
        if drt is not None:
            self._write_part(run, "drt", drt_rows(drt, idx, run, self.path))
        self._write_part(run, "fit", rows)

    def write_kk(self, run: str, indices, result, options=None) -> None:
        """Append Kramers-Kronig results (``M``, ``mu``, ``pseudo_chi2``, ``valid``,
        ``mask``) for the store spectra ``indices`` to run ``run`` (kind "kk" if new)."""
        self._writable()
        idx = self._check_indices(indices)
        rows = kk_rows(result, idx, run, self.path)
        self._prepare_run(run, "kk", {}, options)
        self._write_part(run, "kk", rows)

    def write_drt(self, run: str, indices, result, options=None) -> None:
        """Append DRT results (``tau``, ``gamma``, ``R_inf``, ``L``, ``lam``, ``status``)
        for the store spectra ``indices`` to run ``run`` (kind "drt" if new); a result
        with credible bands (``drt(..., bands=level)``) also gets ``gamma_lo`` and
        ``gamma_hi`` rows in the run's ``drt_band`` table (written first)."""
        self._writable()
        idx = self._check_indices(indices)
        rows = drt_rows(result, idx, run, self.path)
        band = (band_rows(result, idx, run, self.path)
                if getattr(result, "gamma_lo", None) is not None else None)
        self._prepare_run(run, "drt", {}, options)
        if band is not None:
            self._write_part(run, "drt_band", band)
        self._write_part(run, "drt", rows)

    def write_zhit(self, run: str, indices, result, options=None) -> None:
        """Append Z-HIT results (``valid``, ``noise``, reconstructed ``modulus``,
        ``residuals``, kept points ``mask``) for the store spectra ``indices`` to run
        ``run`` (kind "zhit" if new)."""
        self._writable()
        idx = self._check_indices(indices)
        rows = zhit_rows(result, idx, run, self.path)
        self._prepare_run(run, "zhit", {}, options)
        self._write_part(run, "zhit", rows)

    def write_compare(self, run: str, indices, result, candidates, options=None) -> None:
        """Append a model choice (:func:`fastfit.compare` output) for the store spectra
        ``indices`` to run ``run`` (kind "compare" if new).

        ``candidates`` are the names of the runs that hold each candidate's fit (in the
        order of ``result.circuits``; written with :meth:`write_fit`).  The ``compare``
        table holds, per spectrum, the chosen candidate (``best``, -1 when none
        converged), the criterion ``weights`` and ``scores`` (M each)."""
        self._writable()
        idx = self._check_indices(indices)
        circuits = [str(c) for c in result.circuits]
        candidates = [self._run_name(c) for c in candidates]
        if len(candidates) != len(circuits):
            raise StoreError(f"{self.path}: run {run!r}: {len(candidates)} candidate runs for "
                             f"{len(circuits)} circuits")
        rows = compare_rows(result, idx, run, self.path)
        attrs = {"circuits": json.dumps(circuits), "criterion": str(result.criterion),
                 "candidates": json.dumps(candidates)}
        self._prepare_run(run, "compare", attrs, options)
        self._write_part(run, "compare", rows)

    # ------------------------------------------------------------------ reads
    def runs(self) -> list[str]:
        """Names of the analysis runs, in creation order."""
        self._open_check()
        return list(self._f["runs"].keys())

    def run_info(self, run: str) -> dict:
        """Attributes of a run: kind, circuit, param_names, units, options (dict),
        fastfit_version, created, and the committed row count of each part."""
        g = self._run(run)
        out = {}
        for k, v in g.attrs.items():
            v = v.decode() if isinstance(v, bytes) else v
            v = v.item() if isinstance(v, np.generic) else v
            out[k] = json.loads(v) if k in ("options", "param_names", "units", "fixed",
                                            "circuits", "candidates") else v
        for part in PARTS:
            if part in g:
                out[f"n_{part}"] = self._n(g[part])
        return out

    def results(self, run: str, part: str | None = None, *, spectra=None,
                columns=None) -> dict:
        """Latest committed row per spectrum of a run's table (``fit``, ``kk``, ``drt``,
        ``drt_band``, ``zhit``, ``compare``), sorted by ``spectrum``: {column: array}.

        ``spectra`` (store indices) limits the answer to those spectra (the ones without
        results are left out) and ``columns`` to those columns (``spectrum`` is always
        included): both read only what they return, for quick looks at large stores.
        """
        g = self._run(run)
        part = part or str(g.attrs.get("kind", "fit"))
        if part not in PARTS:
            raise StoreError(f"{self.path}: unknown result table {part!r} "
                             f"(one of {', '.join(PARTS)})")
        cols = list(PARTS[part]) if columns is None else ["spectrum", *(
            c for c in columns if c != "spectrum")]
        bad = [c for c in cols if c not in PARTS[part]]
        if bad:
            raise StoreError(f"{self.path}: result table {part!r} has no column {bad[0]!r} "
                             f"(columns: {', '.join(PARTS[part])})")
        if part not in g:
            return {c: np.zeros((0,), PARTS[part][c][0]) for c in cols}
        t = g[part]
        n = self._n(t)
        spectrum = self._col(t, "spectrum", n=n)
        rows = latest_rows(spectrum)
        if spectra is not None:
            want = np.asarray(spectra, np.int64).reshape(-1)
            rows = rows[np.isin(spectrum[rows], want)]
        whole = spectra is None or rows.size > n // 2
        out = {}
        for col in cols:
            if col not in t:          # a column added after this store was written
                out[col] = _missing_column(t, part, col, rows.size)
                continue
            a = self._col(t, col, n=n)[rows] if whole else self._col(t, col, rows, n)
            out[col] = a.astype(bool) if col in ("valid", "mask") else a
        if "representation" in out:
            out["representation"] = np.where(out["representation"] == 1, "admittance",
                                             "impedance")
        return out

    def done(self, run: str, part: str | None = None) -> np.ndarray:
        """Sorted store indices with committed results in ``run`` (its main table unless
        ``part`` is given); empty for a run that does not exist yet (for resuming)."""
        self._open_check()
        if self._run_name(run) not in self._f["runs"]:
            return np.zeros(0, np.int64)
        g = self._f["runs"][run]
        part = part or str(g.attrs.get("kind", "fit"))
        if part not in g:
            return np.zeros(0, np.int64)
        return np.unique(self._col(g[part], "spectrum"))

    def params(self, run: str, area_specific: bool = False):
        """pandas.DataFrame of a fit run, one row per fitted spectrum.

        Index ``spectrum`` (store index); columns exactly ``Circuit.param_names``, then
        ``<name>_stderr`` for each, then ``chi2``, ``status`` and ``time`` (s, the store's
        common clock).  With ``area_specific`` and a run option ``area_cm2``, values are
        multiplied by the area for impedance-like parameters (ohm cm2, H cm2)
        and divided by it for capacitance-like ones (F cm-2, F cm-2 s^(n-1)).
        """
        import pandas as pd

        info = self.run_info(run)
        if "param_names" not in info:
            raise StoreError(f"{self.path}: run {run!r} is a {info.get('kind')} run and has "
                             "no fitted parameters")
        names = list(info["param_names"])
        r = self.results(run, "fit")
        params, stderr = r["params"], r["stderr"]
        if area_specific:
            area = info.get("options", {}).get("area_cm2")
            if area is None:
                raise StoreError(f"{self.path}: run {run!r} has no area_cm2 option")
            params, stderr = _area_specific(info["circuit"], params, stderr, float(area))
        data = {name: params[:, k] for k, name in enumerate(names)}
        data.update({f"{name}_stderr": stderr[:, k] for k, name in enumerate(names)})
        data["chi2"] = r["chi2"]
        data["status"] = r["status"].astype(np.int64)
        data["time"] = self.times(r["spectrum"]) if r["spectrum"].size else np.zeros(0)
        df = pd.DataFrame(data, index=pd.Index(r["spectrum"].astype(np.int64), name="spectrum"))
        return df


    def choices(self, run: str):
        """pandas.DataFrame of a compare run (``fastfit fit`` with several ``--circuit``),
        one row per spectrum: ``best`` (index of the chosen circuit, -1 when none
        converged), ``circuit`` (its string, "" for none), ``run`` (the candidate run
        holding its fit), ``time`` (s), and ``weight_<m>`` per candidate m.  Index:
        ``spectrum``."""
        import pandas as pd

        info = self.run_info(run)
        if info.get("kind") != "compare":
            raise StoreError(f"{self.path}: run {run!r} is a {info.get('kind')} run, not a "
                             "compare run")
        r = self.results(run, "compare")
        circuits, cands = list(info["circuits"]), list(info["candidates"])
        best = r["best"].astype(np.int64)
        pick = np.where(best >= 0, best, len(circuits))
        data = {"best": best,
                "circuit": np.array(circuits + [""], dtype=object)[pick],
                "run": np.array(cands + [""], dtype=object)[pick],
                "time": self.times(r["spectrum"]) if r["spectrum"].size else np.zeros(0)}
        w = (r["weights"].reshape(best.size, -1) if best.size
             else np.zeros((0, len(circuits))))
        data.update({f"weight_{m}": w[:, m] for m in range(len(circuits))})
        return pd.DataFrame(data, index=pd.Index(r["spectrum"].astype(np.int64), name="spectrum"))


def _circuit_attr(text: str, name: str) -> list[str]:
    from ..circuit import Circuit

    return getattr(Circuit(text), name)


def _area_specific(circuit: str, params, stderr, area: float):
    """Scale to area-specific values: impedance-like parameters (ohm..., H) times the
    area, admittance-like ones (F, F s^(n-1)) divided by it, others unchanged."""
    from ..circuit import Circuit

    units = Circuit(circuit).units
    f = np.array([area if u.startswith(("ohm", "H")) else 1.0 / area if u.startswith("F")
                  else 1.0 for u in units])
    return params * f, stderr * f


def _missing_column(t, part: str, col: str, n_rows: int) -> np.ndarray:
    """What a column added after a table was written reads as: NaN for floats, 0
    otherwise, with the width of the table's other columns of the same width key."""
    dt, wkey = PARTS[part][col]
    shape = (n_rows,)
    if wkey is not None:
        sib = next((c for c, (_, k) in PARTS[part].items() if k == wkey and c in t), None)
        width = 1 if sib is None else int(t[sib].shape[1])
        shape = (n_rows, width)
    return np.full(shape, np.nan if np.dtype(dt).kind == "f" else 0, dt)
