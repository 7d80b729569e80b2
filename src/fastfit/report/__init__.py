"""`write_report`: PNG figures and one self-contained HTML page for a results store.

For every fit run: parameters vs time (area-specific when the run has an ``area_cm2``
option), chi2 vs time, Nyquist and Bode plots with the fitted model and residuals for
the first, middle and last fitted spectrum, an Arrhenius plot of each resistance when
the spectra carry a temperature, and a parameter table (all rows also in a CSV).  KK
runs get their test indicators over time and, for the first, middle and last spectrum,
the lin-KK residuals (recomputed: the table keeps M, mu and the mask, not the residuals)
next to the Z-HIT residuals (read from a stored Z-HIT run of the same spectra when the
store has one, else recomputed, and the page says which).  Z-HIT runs (``fastfit
zhit``) get the pass count, the largest residual and the noise over time, and the
stored residuals of the three spectra.  DRT results get a heat map over time and, for the
same three spectra, the DRT with a credible band: the stored ``drt_band`` table when the
run has one (``fastfit drt --band``), else a 95 % band recomputed with the run's lambda,
tau range and sign option; peak intervals always come from that recomputation (the
posterior samples are not stored) and are drawn only where it reproduces the stored
DRT.  Compare runs (``fastfit fit`` with several circuits) get the circuit chosen per
spectrum and the candidates' weights over time, with a count table.  The HTML embeds
every PNG as base64, so it can be mailed or archived alone.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from ._checks import drt_section, kk_section, zhit_section
from ._fit import compare_section, fit_section
from ._page import Page, safe_name

__all__ = ["write_report"]


def write_report(store_path, out_dir, run: str | None = None) -> Path:
    """Write PNGs, CSVs and ``report.html`` for the runs of a store into ``out_dir``.

    Parameters
    ----------
    store_path : path of a fastfit HDF5 store
    out_dir : directory (created if needed)
    run : str, optional -- only this run (default: every run)

    Returns
    -------
    Path of ``report.html``.
    """
    from ..store import Store

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = Page(out)
    with Store(store_path, "r") as store:
        if run is not None:
            store.run_info(run)                   # StoreError naming the run if missing
        runs = store.runs() if run is None else [run]
        page.h(1, f"fastfit report: {Path(store_path).name}")
        n = len(store)
        page.p(f"{n} spectra; runs: {', '.join(html.escape(r) for r in runs) or 'none'}")
        for r in runs:
            info = store.run_info(r)
            tag = safe_name(r)
            if info.get("kind") == "compare":
                compare_section(page, store, r, info)
            elif "param_names" in info:
                fit_section(page, store, r, info)
            else:
                page.h(2, f"Run {r!r}: {info.get('kind')}")
                page.p(f"options: <code>{html.escape(json.dumps(info.get('options', {})))}</code>")
            for part, fn in (("kk", kk_section), ("zhit", zhit_section),
                             ("drt", drt_section)):
                if f"n_{part}" in info and info[f"n_{part}"]:
                    table = store.results(r, part)
                    fn(page, store, r, table, store.times(table["spectrum"]), tag)
        if not runs and n:
            from ..plot import nyquist

            s = store.spectra([0])
            page.figure(nyquist(s.freq[0], s.Z[0], mask=s.mask[0], title="spectrum 0"), "spectrum_0")
    return page.write(f"fastfit report: {Path(store_path).name}")
