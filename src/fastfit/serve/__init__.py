"""The live dashboard: a local web page of a store, updated while it is being written.

>>> from fastfit.serve import Dashboard
>>> with Dashboard("run.h5", port=0) as d:        # doctest: +SKIP
...     print(d.url)                              # http://127.0.0.1:PORT/

``fastfit serve run.h5`` runs a `Dashboard` until Ctrl-C; ``fastfit stream ...
--dashboard [HOST:]PORT`` runs one in a child process beside the stream
(`StreamDashboard`, `DashboardProcess`).  Parts: `StoreView` reads the store without
disturbing its writer and caches what the page shows; `SpectrumService` adds the fitted
curve and the KK residuals of a spectrum; `derived_columns` computes area-specific R,
C_eff and apex frequencies; `thin_indices` thins long series for drawing; the page
(``assets/``) is plain HTML, CSS and a small JavaScript plotter of our own, so it needs
nothing from the internet.  The JSON API and the page's element ids: docs/dashboard.md.
"""
from __future__ import annotations

from ._derived import derived_columns, rc_blocks
from ._launch import (DashboardProcess, StreamDashboard, loopback_warning, parse_address,
                      stream_stats)
from ._server import LOOPBACK, Dashboard
from ._spectrum import SpectrumService
from ._thin import thin_indices
from ._view import NotFound, RunData, StoreView, open_store

__all__ = ["Dashboard", "DashboardProcess", "StreamDashboard", "StoreView", "RunData",
           "SpectrumService", "NotFound", "open_store", "thin_indices", "derived_columns",
           "rc_blocks", "parse_address", "loopback_warning", "stream_stats", "LOOPBACK"]
