"""Random restarts: the last resort of escalation, for any circuit.

Every structured move of the pipeline (scans, twins, relocation, escalation, exponent
restarts) starts from the data or from a fitted result.  A spectrum still far above its
attainable chi2 after all of them -- typically a circuit that does not quite describe it,
whose best fit gives some element a role no move proposes -- gets ``RANDOM_RESTARTS``
starts drawn at random over the physical ranges the spectrum spans, each run a short trip
and the best of them to convergence (``kernels._restarts.random_restarts``), kept where
better.  Not for chains of arcs (the driver's rule): their scan is a variable projection
of the whole model already.

The draws follow each parameter's unit, with magnitudes from the spectrum itself (S =
max |Z|, the measured band w_lo..w_hi in rad/s; r = S 10^U(-3, 0), w log-uniform in the
band, drawn afresh for every parameter):

    ohm            r                  (resistances, R of Wo/Ws/G/K/Zarc/HN/T ...)
    ohm s^-1/2     r sqrt(w)          (Warburg sigma: |Z_W(w)| ~ r)
    F              1 / (r w)          (a capacitor of impedance r at w)
    F s^(n-1)      1 / (r w^n)        (n: the element's own drawn exponent)
    H              r / w
    s              1 / w              (time constants inside the band)
    1, bounded     lo + U(0.5, 1) (hi - lo)   (exponents: arc-like shapes)
    other          the default x 10^U(-2, 2) (log-scale) or uniform between finite
                   bounds, else the default

Every spectrum draws from its own fixed-seed stream (``RANDOM_SEED`` and a key of the
spectrum's own data, :func:`spectrum_key`), and only the spectra that need them draw: the
same spectrum gets the same draws in any batch, at any row (until session 28 the stream
was keyed by the row, so a spectrum fitted alone or in a reordered batch drew others), and
no (B, K, P) array is held for a large batch.

Measured (issue 16, 2026-12-06, scratch; the 42 bundled real spectra, each against the
best of 20 random-start scipy fits): on 13 circuits no session had tuned on, 540 of 546
spectra passed without the round, 546 with it (hybriddrt SSB with ``R0-p(R1-W1,CPE1)``
was 4.2x above the best basin: the Warburg vanished, where the best fit has it carry the
low-frequency branch and the CPE nearly a resistor); the benchmark's 10 circuits 419 ->
420 of 420.  Of 64 draws, 1-4 reach the best basin on each of seven such misses, so the
number of draws matters (16 draws: 3 of 6 misses fixed; 32: 2; 64: 5 -- which draws hit
is luck, one spectrum at a time); given as plain extra starts (competing after stage 1's
6 iterations) the same draws reached none.
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["RANDOM_RESTARTS", "RANDOM_SEED", "random_starts", "spectrum_key"]

RANDOM_RESTARTS = 64        # random starts of a spectrum still far above attainable
RANDOM_SEED = 20261206      # the fixed seed of the draws


def random_starts(problem, k: int, rows=None, seed: int = RANDOM_SEED) -> np.ndarray:
    """(n, k, P) float64 physical starting points for the spectra ``rows`` (batch indices,
    default all) of ``problem`` (a :class:`~fastfit.fitting.FitProblem`), drawn as the
    module docstring says; fixed parameters at their values, every value inside the
    parameter's bounds.  A spectrum's draws come from its own stream, seeded by ``seed``
    and the spectrum's own data (:func:`spectrum_key`), so they depend neither on which
    other rows are drawn nor on the spectrum's place in the batch."""
    c, batch = problem.circuit, problem.batch
    rows = np.arange(problem.n_spectra) if rows is None else np.asarray(rows, np.int64)
    n, P = rows.size, c.n_params
    if k <= 0 or n == 0:
        return np.zeros((n, max(k, 0), P))
    m = batch.mask[rows]
    w = np.where(m, 2.0 * np.pi * batch.freq[rows], np.nan)
    ln_lo, ln_hi = np.log(np.nanmin(w, axis=1)), np.log(np.nanmax(w, axis=1))   # (n,)
    S = np.max(np.where(m, np.abs(batch.Z[rows]), 0.0), axis=1)
    S = np.where(S > 0, S, 1.0)
    # three uniforms per (draw, parameter): the magnitude, the frequency, the shape; the
    # loop only seeds the rows' streams (the far rows of a fit, few as a rule)
    u = np.stack([np.random.default_rng((seed, spectrum_key(batch, int(i)))).random((k, P, 3))
                  for i in rows])
    r = S[:, None, None] * 10.0 ** (-3.0 + 3.0 * u[..., 0])
    om = np.exp(ln_lo[:, None, None] + (ln_hi - ln_lo)[:, None, None] * u[..., 1])
    g = u[..., 2]

    units, names = c.units, c.param_names
    defaults = c.default_values
    logs = np.asarray(problem.logmask, bool)
    bounds = np.stack([np.where(logs, np.exp(problem.lo), problem.lo),
                       np.where(logs, np.exp(problem.hi), problem.hi)], axis=1)   # physical
    out = np.empty((n, k, P))
    for j, unit in enumerate(units):    # over parameters, never over spectra
        lo, hi = bounds[j]
        if unit == "ohm":
            v = r[..., j]
        elif unit == "ohm s^-1/2":
            v = r[..., j] * np.sqrt(om[..., j])
        elif unit == "F":
            v = 1.0 / (r[..., j] * om[..., j])
        elif unit == "H":
            v = r[..., j] / om[..., j]
        elif unit == "s":
            v = 1.0 / om[..., j]
        elif unit == "1" and np.isfinite(lo) and np.isfinite(hi) and not logs[j]:
            v = lo + (0.5 + 0.5 * g[..., j]) * (hi - lo)
        elif logs[j]:
            v = defaults[j] * 10.0 ** (-2.0 + 4.0 * g[..., j])
        elif np.isfinite(lo) and np.isfinite(hi):
            v = lo + g[..., j] * (hi - lo)
        else:
            v = np.full((n, k), defaults[j])
        out[..., j] = v
    for j, unit in enumerate(units):    # a CPE-like coefficient with its own exponent
        if unit.startswith("F s^"):
            e = _exponent_of(names, units, j)
            ex = out[..., e] if e is not None else 1.0
            out[..., j] = 1.0 / (r[..., j] * om[..., j] ** ex)
    out = np.clip(out, bounds[:, 0], bounds[:, 1])
    return np.where(problem.fixed[None, None, :], problem.p_fixed[rows][:, None, :], out)


def spectrum_key(batch, i: int) -> int:
    """A 32-bit key of spectrum ``i`` of ``batch``: the CRC-32 of its used frequencies and
    impedances.  The same measured spectrum gets the same key in any batch and at any
    row, so its random draws -- and with them its fit -- do not depend on its position or
    its batch-mates (a batch reordered, or a spectrum fitted alone)."""
    m = np.asarray(batch.mask[i], bool)
    data = np.concatenate([np.asarray(batch.freq[i], np.float64)[m],
                           np.asarray(batch.Z[i], np.complex128)[m].view(np.float64)])
    return zlib.crc32(np.ascontiguousarray(data).tobytes())


def _exponent_of(names, units, j: int):
    """Column of the dimensionless exponent of parameter ``j``'s element (the next
    parameter of the same element with unit "1"), or None."""
    prefix = names[j].rsplit("_", 1)[0]
    for i in range(j + 1, len(names)):
        if not names[i].startswith(prefix + "_"):
            break
        if units[i] == "1":
            return i
    return None
