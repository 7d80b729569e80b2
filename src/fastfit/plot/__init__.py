"""Matplotlib figures for impedance results (Agg canvas; no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure`; save it with
``fig.savefig("x.png")``.

=====================  ==========================================================
`nyquist`              -Z'' vs Z' with fit overlay and residual panel
`bode`                 |Z| and phase vs frequency with fit overlay and residuals
`params_vs_time`       fitted parameters vs time with error bars
`drt_heatmap`          DRT over time (tau vs time, colour = gamma)
`arrhenius`            ln(sigma T) (or ln 1/R, ln sigma) vs 1000/T with the fit
`validation_residuals` lin-KK and Z-HIT residuals of one spectrum vs frequency
`drt_band`             one DRT with its credible band and peaks
`model_choice`         circuit chosen per spectrum and candidate weights vs time
=====================  ==========================================================
"""
from __future__ import annotations

from ._base import new_figure, save
from ._series import arrhenius, drt_heatmap, model_choice, params_vs_time, time_axis
from ._spectra import bode, nyquist
from ._validation import drt_band, validation_residuals

__all__ = ["nyquist", "bode", "params_vs_time", "drt_heatmap", "arrhenius",
           "validation_residuals", "drt_band", "model_choice", "new_figure", "save", "time_axis"]
