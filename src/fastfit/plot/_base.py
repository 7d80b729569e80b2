"""Figure creation without pyplot (no global state; the Agg canvas renders PNGs)."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError

__all__ = ["new_figure", "prepare", "save"]


def new_figure(figsize):
    """A Figure attached to the Agg canvas (works without a display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, path, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` (format from the extension)."""
    fig.savefig(path, dpi=dpi)


def prepare(freq, Z, Z_fit, mask):
    """1-D float freq, complex Z (and Z_fit), bool mask of the same length."""
    f = np.asarray(freq, float).reshape(-1)
    z = np.asarray(Z, complex).reshape(-1)
    if f.shape != z.shape:
        raise ShapeError(f"freq has {f.size} points but Z has {z.size}")
    zf = None if Z_fit is None else np.asarray(Z_fit, complex).reshape(-1)
    if zf is not None and zf.shape != z.shape:
        raise ShapeError(f"Z_fit has {zf.size} points but Z has {z.size}")
    m = np.ones(f.shape, bool) if mask is None else np.asarray(mask, bool).reshape(-1)
    if m.shape != f.shape:
        raise ShapeError(f"mask has {m.size} points but Z has {z.size}")
    return f, z, zf, m
