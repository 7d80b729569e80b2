"""Spectra of circuits built around the elements of issue 17 (Gs, TLMQ, TLMRQ, T, Woa,
Wsa), for the basin benchmark (benchmarks/bench_elements.py) and its slow test.

Each circuit has a documented parameter distribution chosen so that every parameter
shapes the spectrum inside the measured window (characteristic frequencies drawn inside
it, with at least a decade to spare on each side); impedances come from
``fastfit.Circuit.impedance`` plus proportional noise.
"""
from __future__ import annotations

import numpy as np

from ._basic import add_noise, log_freq

__all__ = ["ELEMENT_CIRCUITS", "element_spectra", "element_model"]


def _u(rng, lo, hi, n):
    return rng.uniform(lo, hi, n)


def _l(rng, lo, hi, n):           # log-uniform between 10^lo and 10^hi
    return 10 ** rng.uniform(lo, hi, n)


def _rq(rng, n, f_lo, f_hi):
    """R||CPE arc: R 10-300 ohm, apex 10^f_lo - 10^f_hi Hz, n 0.75-0.98 -> (R, Q, n)."""
    R = _l(rng, 1, 2.5, n)
    e = _u(rng, 0.75, 0.98, n)
    Q = (1 / (2 * np.pi * _l(rng, f_lo, f_hi, n))) ** e / R
    return R, Q, e


def _gs(rng, n):
    R0 = _l(rng, 0, 1.5, n)
    R1, Q1, n1 = _rq(rng, n, 4, 5)
    R = _l(rng, 1.5, 3, n)                        # Gs: apex 1-100 Hz, phi 0.3-3
    tau = 1 / (2 * np.pi * _l(rng, 0, 2, n))
    phi = _l(rng, -0.5, 0.5, n)
    return log_freq(1e6, 1e-2), np.stack([R0, R1, Q1, n1, R, tau, phi], 1)


def _tlmq(rng, n):
    R0 = _l(rng, 0, 1.5, n)
    Rion = _l(rng, 1, 3, n)
    e = _u(rng, 0.75, 0.98, n)
    Q = (2 * np.pi * _l(rng, 1, 3, n)) ** (-e) / Rion   # |y| = 1 at 10 Hz - 1 kHz
    return log_freq(1e5, 1e-2), np.stack([R0, Rion, Q, e], 1)


def _tlmrq(rng, n):
    R0 = _l(rng, 0, 1.5, n)
    Rion = _l(rng, 1, 3, n)
    Rct = Rion * _l(rng, 0, 1.5, n)
    e = _u(rng, 0.75, 0.98, n)
    Q = (2 * np.pi * _l(rng, 1, 3, n)) ** (-e) / Rion
    return log_freq(1e5, 1e-3), np.stack([R0, Rion, Rct, Q, e], 1)


def _t(rng, n):
    R0 = _l(rng, 0, 1.5, n)
    A = _l(rng, 1, 3, n)
    B = A * _l(rng, -1, 0, n)
    a = _l(rng, -1, 1, n)
    b = 1 / (2 * np.pi * _l(rng, 0, 2, n))          # |beta| = 1 at 1-100 Hz
    return log_freq(1e5, 1e-2), np.stack([R0, A, B, a, b], 1)


def _warburg(rng, n):
    R0 = _l(rng, 0, 1.5, n)
    R1, Q1, n1 = _rq(rng, n, 4, 5)
    R = _l(rng, 1.5, 3, n)                          # Woa/Wsa: 1/(2 pi tau) 0.1-10 Hz
    tau = 1 / (2 * np.pi * _l(rng, -1, 1, n))
    e = _u(rng, 0.35, 0.65, n)
    return log_freq(1e6, 1e-3), np.stack([R0, R1, Q1, n1, R, tau, e], 1)


ELEMENT_CIRCUITS = {
    "R0-p(R1,CPE1)-Gs1": _gs,
    "R0-TLMQ1": _tlmq,
    "R0-TLMRQ1": _tlmrq,
    "R0-T1": _t,
    "R0-p(R1,CPE1)-Woa1": _warburg,
    "R0-p(R1,CPE1)-Wsa1": _warburg,
}


def element_spectra(circuit: str, n: int, seed: int = 0, noise: float = 0.005):
    """``n`` noisy spectra of one of :data:`ELEMENT_CIRCUITS`.

    Returns
    -------
    freq : (F,) Hz, 10 points per decade (window per circuit, see the generators)
    Z : (n, F) complex128, ohm, with ``noise`` proportional noise
    params : (n, P) true parameters in ``Circuit(circuit).param_names`` order
    """
    from ..circuit import Circuit

    if circuit not in ELEMENT_CIRCUITS:
        raise KeyError(f"no generator for {circuit!r}; known: {', '.join(ELEMENT_CIRCUITS)}")
    rng = np.random.default_rng(seed)
    f, P = ELEMENT_CIRCUITS[circuit](rng, n)
    Z = Circuit(circuit).impedance(f, P)
    if noise > 0:
        Z = add_noise(Z, noise, rng)
    return f, Z, P


# --------------------------------------------------------------------------------------
# numpy closed forms of the same circuits, written from the published formulas apart
# from the kernels: the model of the scipy reference fits (tests/test_element_basin.py)
# --------------------------------------------------------------------------------------
def _np_rq(w, R, Q, n):
    return R / (1 + R * Q * (1j * w) ** n)


def _np_line(Rion, Zi):            # sqrt(Rion Zi) coth(sqrt(Rion/Zi))
    y = np.sqrt(Rion / Zi)
    return Rion / (y * np.tanh(y))


def _np_gs(w, R, tau, phi):
    x = np.sqrt(1 + 1j * w * tau)
    return R / (x * np.tanh(phi * x))


def _np_warburg(w, R, tau, n, short):
    u = (1j * w * tau) ** n
    return R * np.tanh(u) / u if short else R / (u * np.tanh(u))


def _np_t(w, A, B, a, b):
    beta = np.sqrt(a + 1j * w * b)
    return A / (beta * np.tanh(beta)) + B / (beta * np.sinh(beta))


_MODELS = {
    "R0-p(R1,CPE1)-Gs1": lambda w, p: p[0] + _np_rq(w, *p[1:4]) + _np_gs(w, *p[4:7]),
    "R0-TLMQ1": lambda w, p: p[0] + _np_line(p[1], 1 / (p[2] * (1j * w) ** p[3])),
    "R0-TLMRQ1": lambda w, p: p[0] + _np_line(p[1], _np_rq(w, *p[2:5])),
    "R0-T1": lambda w, p: p[0] + _np_t(w, *p[1:5]),
    "R0-p(R1,CPE1)-Woa1": lambda w, p: p[0] + _np_rq(w, *p[1:4]) + _np_warburg(w, *p[4:7], False),
    "R0-p(R1,CPE1)-Wsa1": lambda w, p: p[0] + _np_rq(w, *p[1:4]) + _np_warburg(w, *p[4:7], True),
}


def element_model(circuit: str):
    """numpy ``Z(omega (F,) rad/s, p (P,)) -> (F,) complex`` of a circuit of
    :data:`ELEMENT_CIRCUITS` (moderate arguments: plain numpy hyperbolics)."""
    return _MODELS[circuit]
