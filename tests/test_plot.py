"""fastfit.plot: every figure renders to a non-empty PNG; bad shapes raise ShapeError."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fastfit import plot
from fastfit.analysis import K_B_EV
from fastfit.errors import ShapeError


def _png(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=50)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    return path


@pytest.fixture
def spectrum():
    f = np.logspace(6, -1, 50)
    Z = 10 + 1000 / (1 + (2j * np.pi * f * 1e-3) ** 0.85)
    return f, Z, Z * (1 + 0.01 * np.sin(np.arange(50)))


def test_nyquist_and_bode_with_fit_and_residuals(spectrum, tmp_path):
    f, Z, Zf = spectrum
    mask = np.ones(50, bool)
    mask[:3] = False
    fig = plot.nyquist(f, Z, Zf, mask=mask, title="one")
    assert len(fig.axes) == 2                       # Nyquist + residual panel
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("Z'") and ax.get_ylabel().startswith("-Z''")
    data = ax.lines[0].get_xydata()
    np.testing.assert_allclose(data[:, 1], -Z.imag[mask])          # capacitive arc drawn upwards
    res = fig.axes[1].lines[1].get_ydata()                          # Re residual in %
    np.testing.assert_allclose(res, ((Zf - Z) / abs(Z)).real[mask] * 100)
    _png(fig, tmp_path, "nyquist")
    fig = plot.bode(f, Z, Zf, mask=mask, fit_curve=(f[::-1], Zf[::-1]))
    assert len(fig.axes) == 3 and fig.axes[0].get_yscale() == "log"
    _png(fig, tmp_path, "bode")
    assert len(plot.nyquist(f, Z).axes) == 1 and len(plot.bode(f, Z).axes) == 2


def test_params_vs_time_from_dataframe(tmp_path, rng):
    n = 40
    t = np.arange(n) * 600.0
    df = pd.DataFrame({"R0": 10 + rng.normal(size=n), "R1": np.geomspace(100, 1e5, n),
                       "R0_stderr": np.full(n, 0.5), "R1_stderr": np.full(n, 20.0),
                       "chi2": np.ones(n), "status": np.r_[np.ones(n - 2), 0, -1].astype(int),
                       "time": t})
    fig = plot.params_vs_time(df, units=["ohm", "ohm"])
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_ylabel() for a in axes] == ["R0 (ohm)", "R1 (ohm)"]
    assert axes[1].get_yscale() == "log" and axes[1].get_xlabel() == "time (h)"
    _png(fig, tmp_path, "params")
    with pytest.raises(ShapeError):
        plot.params_vs_time(np.ones((3, 2)), ["a", "b", "c"])


def test_drt_heatmap(tmp_path):
    tau = np.logspace(-6, 1, 60)
    t = np.arange(12) * 3600.0
    centre = np.log10(1e-3) + 0.1 * np.arange(12)
    gamma = 50 * np.exp(-((np.log10(tau)[None, :] - centre[:, None]) ** 2) / 0.1)
    fig = plot.drt_heatmap(t, tau, gamma, title="drt")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "time (h)"
    assert ax.collections[0].get_array().shape == (60 * 12,) or ax.collections[0].get_array().size == 720
    _png(fig, tmp_path, "drt")
    _png(plot.drt_heatmap(t, tau, gamma, log_color=True), tmp_path, "drt_log")
    with pytest.raises(ShapeError):
        plot.drt_heatmap(t, tau[:-1], gamma)


def test_arrhenius_plot_line_matches_activation_energy(tmp_path):
    T = np.array([250.0, 275.0, 300.0, 325.0, 350.0])
    Ea = 0.35
    R = 5.0 * np.exp(Ea / (K_B_EV * T))
    fig = plot.arrhenius(T, R, law="inv_R")
    ax = fig.axes[0]
    line = ax.lines[-1]
    x, y = line.get_xdata(), line.get_ydata()
    slope = (y[-1] - y[0]) / (x[-1] - x[0])          # d ln(1/R) / d(1000/T) = -Ea/(1000 k_B)
    assert slope == pytest.approx(-Ea / (1000 * K_B_EV), rel=1e-9)
    assert "0.350" in line.get_label()
    _png(fig, tmp_path, "arrhenius")
