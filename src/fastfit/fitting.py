"""Batched equivalent-circuit fitting: `fit` and `fit_series`."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ._fitresult import FitResult, FitStatus
from ._starts import canonical_permutation, chain_of, generic_starts, tau_grid
from ._validate import Batch, as_batch
from .circuit import Circuit
from .errors import DataError, ShapeError

__all__ = ["fit", "fit_series", "FitResult", "FitStatus", "prepare", "weights_for"]

WEIGHTS = ("modulus", "proportional", "unit")
# CPE/ZARC exponents used by the start scan: a typical dispersed arc, and the ideal
# capacitor limit (small ideal arcs are invisible to a scan at n = 0.85)
N_SCAN = (0.85, 1.0)
# LM iterations: every start (stage 1), then the best start of every spectrum (stage 2);
# what is still running after that continues in compacted batches (kernels._fit)
STAGES = (6, 10)


def _as_circuit(circuit) -> Circuit:
    if circuit is None:
        raise ShapeError("a circuit is required, e.g. circuit='R0-p(R1,CPE1)'")
    return circuit if isinstance(circuit, Circuit) else Circuit(circuit)


def weights_for(weight, batch: Batch) -> tuple[np.ndarray, np.ndarray, str]:
    """(w_re, w_im, name): residual weights 1/sigma per point, 0 where masked.

    "modulus": sigma = |Z| for both parts; "proportional": sigma_re = |Z'|, sigma_im = |Z''|
    (floored at 1e-6 |Z|); "unit": sigma = 1; an array sigma (B, F) or (F,): real (same
    for both parts) or complex (sigma_re + j sigma_im), in ohm.
    """
    Z, m = batch.Z, batch.mask
    if isinstance(weight, str):
        if weight == "modulus":
            s_re = s_im = np.abs(Z)
        elif weight == "proportional":
            a = np.abs(Z)
            s_re, s_im = np.maximum(np.abs(Z.real), 1e-6 * a), np.maximum(np.abs(Z.imag), 1e-6 * a)
        elif weight == "unit":
            s_re = s_im = np.ones(Z.shape)
        else:
            raise DataError(f"weight must be one of {', '.join(WEIGHTS)} or an array of sigma; got {weight!r}")
        name = weight
    else:
        sig = np.asarray(weight)
        if sig.ndim == 1:
            sig = np.broadcast_to(sig, Z.shape)
        if sig.shape != Z.shape:
            raise ShapeError(f"weight (sigma) has shape {sig.shape}, expected {Z.shape}")
        s_re, s_im = (sig.real, sig.imag) if np.iscomplexobj(sig) else (sig, sig)
        bad = m & ~((s_re > 0) & (s_im > 0) & np.isfinite(s_re) & np.isfinite(s_im))
        if bad.any():
            b, k = np.argwhere(bad)[0]
            raise DataError(f"spectrum {b}: sigma at point {k} must be finite and > 0")
        name = "sigma"
    bad = m & ~((s_re > 0) & (s_im > 0))
    if bad.any():
        b, k = np.argwhere(bad)[0]
        raise DataError(f"spectrum {b}: Z = 0 at point {k} cannot be weighted by {name!r}")
    w_re = np.where(m, 1.0 / np.where(m, s_re, 1.0), 0.0)
    w_im = np.where(m, 1.0 / np.where(m, s_im, 1.0), 0.0)
    return w_re, w_im, name


def _per_param(value, circuit: Circuit, B: int, what: str, default: np.ndarray) -> np.ndarray:
    """(B, P) array from None, a (P,) / (B, P) array, or a {name: value} mapping."""
    P = circuit.n_params
    out = np.broadcast_to(default, (B, P)).astype(np.float64).copy()
    if value is None:
        return out
    if isinstance(value, Mapping):
        for name, v in value.items():
            out[:, circuit.param_index(name)] = v
        return out
    arr = np.asarray(value, np.float64)
    if arr.shape not in ((P,), (B, P)):
        raise ShapeError(f"{what} must have shape ({P},) or ({B}, {P}) for parameters "
                         f"{', '.join(circuit.param_names)}; got {arr.shape}")
    out[:] = arr
    return out


def _bounds(bounds, circuit: Circuit) -> np.ndarray:
    b = circuit.default_bounds.copy()
    if bounds is None:
        return b
    if isinstance(bounds, Mapping):
        for name, (lo, hi) in bounds.items():
            b[circuit.param_index(name)] = (lo, hi)
    else:
        arr = np.asarray(bounds, np.float64)
        if arr.shape == (circuit.n_params, 2):
            b = arr.copy()
        elif arr.shape == (2, circuit.n_params):
            b = arr.T.copy()
        else:
            raise ShapeError(f"bounds must be (P, 2) = ({circuit.n_params}, 2) or a mapping; got {arr.shape}")
    for k, (lo, hi) in enumerate(b):
        if not lo < hi:
            raise DataError(f"bounds of {circuit.param_names[k]}: lower {lo} must be < upper {hi}")
    return b


def _fixed(fixed, circuit: Circuit, p_fixed: np.ndarray, have_p0: bool) -> np.ndarray:
    P = circuit.n_params
    mask = np.zeros(P, bool)
    if fixed is None:
        return mask
    if isinstance(fixed, Mapping):
        for name, v in fixed.items():
            k = circuit.param_index(name)
            mask[k] = True
            p_fixed[:, k] = v
        return mask
    arr = np.asarray(fixed)
    if arr.dtype == bool:
        if arr.shape != (P,):
            raise ShapeError(f"fixed as a mask must have shape ({P},); got {arr.shape}")
        names = [circuit.param_names[k] for k in np.nonzero(arr)[0]]
    else:
        names = [str(n) for n in np.atleast_1d(arr)]
    for name in names:
        mask[circuit.param_index(name)] = True
    if mask.any() and not have_p0:
        raise DataError("parameters fixed by name need values: pass p0 or fixed={name: value}")
    return mask


def prepare(freq, Z=None, circuit=None, *, p0=None, bounds=None, fixed=None, weight="modulus",
            mask=None):
    """Validate everything `fit` takes; returns a dict of numpy inputs for the kernel."""
    if circuit is None and isinstance(Z, (str, Circuit)) and hasattr(freq, "Z"):
        circuit, Z = Z, None
    c = _as_circuit(circuit)
    batch = as_batch(freq, Z, mask)
    B, P = batch.n_spectra, c.n_params
    default = c.default_values
    have_p0 = p0 is not None
    p_fix = _per_param(p0, c, B, "p0", default)
    fixed_mask = _fixed(fixed, c, p_fix, have_p0)
    b = _bounds(bounds, c)
    if have_p0 or fixed_mask.any():
        lo_b, hi_b = b[:, 0], b[:, 1]
        out = (p_fix < lo_b) | (p_fix > hi_b)
        if out.any():
            s, k = np.argwhere(out)[0]
            raise DataError(f"spectrum {s}: start/fixed value of {c.param_names[k]} = {p_fix[s, k]:g} "
                            f"is outside its bounds [{lo_b[k]:g}, {hi_b[k]:g}]")
    n_free = int((~fixed_mask).sum())
    n_pts = batch.mask.sum(axis=1)
    few = np.nonzero(2 * n_pts <= n_free)[0]
    if few.size:
        s = few[0]
        raise DataError(f"spectrum {s}: {n_pts[s]} points (x2 real residuals) do not exceed "
                        f"{n_free} free parameters")
    w_re, w_im, wname = weights_for(weight, batch)
    logmask = tuple(bool(v) for v in (c.log_scale & (b[:, 0] >= 0)))
    lo_x = np.where(logmask, np.log(np.maximum(b[:, 0], 1e-300)), b[:, 0])
    hi_x = np.where(logmask, np.log(np.minimum(b[:, 1], 1e300)), b[:, 1])
    return dict(circuit=c, batch=batch, p_fixed=p_fix, have_p0=have_p0, fixed=fixed_mask,
                lo=lo_x, hi=hi_x, logmask=logmask, w_re=w_re, w_im=w_im, weight=wname,
                n_points=n_pts, n_free=n_free)


def fit(freq, Z=None, circuit=None, p0=None, bounds=None, fixed=None, weight="modulus",
        mask=None, starts: int = 2, max_iter: int = 1000, absolute_sigma: bool = False,
        chunk: int | None = None, ftol: float = 1e-10, xtol: float = 1e-10, gtol: float = 1e-12,
        progress: Callable[[int, int], None] | None = None, extra_starts=None) -> FitResult:
    r"""Fit one equivalent circuit to a batch of spectra in one compiled call.

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`SpectrumSeries` (then ``Z`` is omitted)
    Z : (F,) or (B, F) complex, ohm (Z' + jZ'', capacitive Z'' < 0)
    circuit : str or Circuit, e.g. ``"R0-p(R1,CPE1)-p(R2,CPE2)"``
    p0 : optional (P,), (B, P) or {name: value}: an extra starting point (the data-derived
        starts are always tried as well; the best wins)
    bounds : optional (P, 2) or {name: (lo, hi)}; default ``circuit.default_bounds``
    fixed : optional {name: value}, list of names (values from p0) or (P,) bool mask
    weight : "modulus" (sigma = |Z|), "proportional" (sigma_re = |Z'|, sigma_im = |Z''|),
        "unit", or sigma as an array (B, F) (real, or complex sigma_re + j sigma_im)
    mask : (B, F) or (F,) bool, points to use (ragged spectra: padded and masked)
    starts : data-derived starting points per spectrum.  Chain circuits: the best
        ``ceil(starts / 2)`` time-constant tuples of each of the two start scans
        (exponents 0.85 and 1); other circuits: ``max(4 starts, 8)`` data-scaled random
        starts.  Default 2: on 8,000 paper-style spectra (seeds 7 and 99) 2 and 4 starts
        reached the same optimum on every spectrum, and 2 pass the real-data checks
        (tests/test_fit.py) at ~1.4x the speed (benchmarks/results_fit.md)
    max_iter : LM iteration budget per spectrum
    absolute_sigma : covariance (J^T J)^-1 without rescaling by chi2_red (sigma known)
    chunk : spectra per compiled call; None picks it from the device (1024 per CPU device,
        from free memory on a GPU; see docs/scaling.md)
    progress : optional callable(done, total) called after each chunk

    Returns
    -------
    FitResult

    Notes
    -----
    Minimises :math:`\chi^2 = \sum_f w_{re}^2 (Z'_m - Z')^2 + w_{im}^2 (Z''_m - Z'')^2`
    by box-constrained Levenberg-Marquardt (see :mod:`fastfit.kernels._lm`); positive
    parameters are fitted on a log scale.  For chains of R, L, C and R||CPE / R||C / K /
    ZARC blocks, starting points come from variable projection on a grid of time constants
    (the model is linear in the resistances); otherwise from data-scaled generic starts.
    """
    prep = prepare(freq, Z, circuit, p0=p0, bounds=bounds, fixed=fixed, weight=weight, mask=mask)
    return _run(prep, starts=starts, max_iter=max_iter, absolute_sigma=absolute_sigma, chunk=chunk,
                ftol=ftol, xtol=xtol, gtol=gtol, progress=progress, extra_starts=extra_starts)


def _run(prep, *, starts, max_iter, absolute_sigma, chunk, ftol, xtol, gtol, progress,
         extra_starts=None) -> FitResult:
    import jax.numpy as jnp  # noqa: F401  (enables x64 through fastfit.kernels)
    from fastfit.kernels._fit import FitConfig, fit_pipeline

    c: Circuit = prep["circuit"]
    batch: Batch = prep["batch"]
    B, F = batch.Z.shape
    P = c.n_params
    if starts < 1:
        raise DataError(f"starts must be >= 1, got {starts}")
    chain = chain_of(c)
    if chain is not None and any(prep["fixed"][[blk[1] for blk in chain[1]]]):
        chain = None  # a fixed block resistance breaks the linear projection
    if chain is not None:
        log_tau, combos = tau_grid(batch.freq, batch.mask, len(chain[1]), batch.shared_freq)
        n_blocks = []
        for n_scan in N_SCAN:
            nb = np.ones((B, len(chain[1])))
            for k, blk in enumerate(chain[1]):
                if blk[0] in ("rq", "zarc"):
                    i_n = blk[3]
                    nb[:, k] = prep["p_fixed"][:, i_n] if prep["fixed"][i_n] else n_scan
            # shared exponents (K,): GEMM path in the start scan
            n_blocks.append(nb[0] if np.all(nb == nb[:1]) else nb)
        vp_starts = max(1, -(-starts // len(N_SCAN)))
        p_starts = np.zeros((B, 0, P))
    else:
        log_tau, combos, n_blocks, vp_starts = np.zeros(2), np.zeros((1, 1), np.int32), [], 1
        p_starts = generic_starts(c, batch.freq, batch.Z, batch.mask, max(4 * starts, 8))
    if prep["have_p0"]:
        p_starts = np.concatenate([prep["p_fixed"][:, None, :], p_starts], axis=1)
    if extra_starts is not None:
        p_starts = np.concatenate([p_starts, np.asarray(extra_starts, np.float64).reshape(B, -1, P)], axis=1)
    it1, it2 = STAGES
    cfg = FitConfig(logmask=prep["logmask"], chain=chain, n_starts=vp_starts,
                    iter_stage1=min(it1, max_iter), iter_stage2=min(it2, max(max_iter - it1, 0)),
                    iter_stage3=max(max_iter - it1 - it2, 0), rescue_frac=0.25,
                    ftol=ftol, xtol=xtol, gtol=gtol)
    from . import _devices      # chunk size and devices (issue 11, docs/scaling.md)
    if chunk is None:
        chunk = _devices.auto_chunk(F, P, len(combos) if chain is not None else 0,
                                    len(chain[0]) + len(chain[1]) if chain is not None else 0)
    devs = _devices.devices_for(min(B, chunk))
    size = _devices.split_size(min(B, chunk), len(devs))   # bucket_size(...) on one device
    omega = 2 * np.pi * batch.freq
    lo = np.broadcast_to(prep["lo"], (B, P))
    hi = np.broadcast_to(prep["hi"], (B, P))
    arrays = dict(omega=omega, Z=batch.Z, w_re=prep["w_re"], w_im=prep["w_im"], lo=lo, hi=hi,
                  p_fixed=prep["p_fixed"], p_starts=p_starts)
    if log_tau.ndim == 2:
        arrays["log_tau"] = log_tau
    for j, nb in enumerate(n_blocks):
        if nb.ndim == 2:
            arrays[f"n_block{j}"] = nb
    omega_shared = omega[0] if batch.shared_freq else None
    outs = []
    for start in range(0, B, size):
        stop = min(start + size, B)
        sl = {k: v[start:stop] for k, v in arrays.items()}
        pad = size - (stop - start)
        if pad:
            sl = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in sl.items()}

        def call(s, sl=sl):     # one device's equal slice of the padded chunk
            d = {k: v[s] for k, v in sl.items()}
            return fit_pipeline(c.tree, cfg, d["omega"], d["Z"], d["w_re"], d["w_im"], d["lo"], d["hi"],
                                np.asarray(~prep["fixed"]), d["p_fixed"], d["p_starts"],
                                d["log_tau"] if log_tau.ndim == 2 else log_tau, combos,
                                [nb if nb.ndim == 1 else d[f"n_block{j}"] for j, nb in enumerate(n_blocks)],
                                omega_shared)
        o = _devices.run_split(call, size, devs)
        outs.append({k: v[: stop - start] for k, v in o.items()})
        if progress is not None:
            progress(stop, B)
    out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    perm = canonical_permutation(chain_of(c), out["p"], prep["fixed"])
    if perm is not None:
        rows = np.arange(B)[:, None]
        for key in ("x", "p", "at_bound"):
            out[key] = out[key][rows, perm]
        out["cov_x"] = out["cov_x"][rows[:, :, None], perm[:, :, None], perm[:, None, :]]
    return _assemble(prep, out, absolute_sigma, dict(starts=starts, max_iter=max_iter, chunk=chunk))


def _assemble(prep, out, absolute_sigma, options) -> FitResult:
    c: Circuit = prep["circuit"]
    batch: Batch = prep["batch"]
    fixed = prep["fixed"]
    p = np.where(fixed, prep["p_fixed"], out["p"])
    chi2 = 2.0 * out["cost"]
    dof = 2 * prep["n_points"] - prep["n_free"]
    chi2_red = chi2 / dof
    dpdx = np.where(prep["logmask"], p, 1.0)
    s2 = np.ones_like(chi2) if absolute_sigma else chi2_red
    with np.errstate(over="ignore", invalid="ignore"):
        cov = out["cov_x"] * dpdx[:, :, None] * dpdx[:, None, :] * s2[:, None, None]
        var = np.diagonal(cov, axis1=1, axis2=2).copy()
        pinned = out["at_bound"] | fixed[None, :]
        stderr = np.where(pinned, np.nan, np.sqrt(np.maximum(var, 0.0)))
    unidentifiable = ~pinned & ~np.isfinite(stderr)
    stderr = np.where(unidentifiable, np.inf, stderr)
    raw = out["status"]
    status = np.select([raw == 1, raw == 2, raw == 3, raw == -2],
                       [FitStatus.CONVERGED, FitStatus.CONVERGED_XTOL, FitStatus.CONVERGED_GTOL,
                        FitStatus.NONFINITE], FitStatus.MAX_ITER).astype(np.int64)
    conv = status > 0
    status = np.where(conv & out["at_bound"].any(axis=1), FitStatus.AT_BOUND, status)
    singular = (out["min_pivot"] < 1e-15) | unidentifiable.any(axis=1)
    status = np.where(conv & singular, FitStatus.SINGULAR, status)
    nonfinite = ~np.isfinite(chi2)
    status = np.where(nonfinite, FitStatus.NONFINITE, status)
    Zf = out["Z_fit"]
    res = (prep["w_re"] * (Zf.real - batch.Z.real) + 1j * prep["w_im"] * (Zf.imag - batch.Z.imag))
    return FitResult(circuit=c, params=p, stderr=stderr, cov=cov, chi2=chi2, chi2_red=chi2_red,
                     residuals=res, Z_fit=Zf, n_iter=out["n_iter"].astype(np.int64),
                     status=status.astype(np.int64), n_points=prep["n_points"].astype(np.int64),
                     dof=dof.astype(np.int64), fixed=fixed, weight=prep["weight"],
                     mask=batch.mask, options=options)


from .series_fit import fit_series  # noqa: E402  (re-exported: fastfit.fit_series)
