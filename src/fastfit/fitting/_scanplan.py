"""Start planning for any circuit: terms, candidate shapes and their combinations.

The circuit's top-level series connection is split into *static* elements (R, L, C) and
*shaped terms* (everything else: a parallel block of any depth, a CPE, a Warburg, ...).
For every shaped term a grid of unit-scale candidate parameter vectors is built from the
roles of its parameters (:func:`param_roles`, read from each element's units and
bounds, so user-registered elements take part too):

* the term's first resistance-like parameter is its *scale* (1 in every candidate; the
  kernel fits the scale linearly, ``kernels._scan``);
* other resistance-like parameters get a ratio grid (10^-2 ... 10^2 of the scale);
* every time constant -- a tau parameter, or a capacitance-like one (C, CPE Q, ...)
  expressed through tau = (R Q)^(1/n) with the resistance of its sibling branches --
  gets a log grid over the measured window, +-0.5 decade (diffusion times: +1.5 decades
  on the slow side, where a finite Warburg still shapes the low-frequency tail);
* exponents take the scan value (0.85 or 1: two scans), or a grid of their own when they
  are the term's only shape parameter (a CPE in series);
* any other parameter keeps its default.

Same-structure terms are interchangeable, so their combinations are enumerated in
ascending order of their first time constant.  Grids are coarsened until the number of
combinations fits the budget.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

__all__ = ["param_roles", "Term", "ScanPlan", "plan_scan", "scan_tables", "scan_grid",
           "split_terms", "loose_mask", "term_log_tau", "N_SCAN", "element_slots",
           "term_candidates", "walk_elements", "spec_of", "static_shape"]

# exponents of the two start scans (a typical dispersed arc, and the ideal limit)
N_SCAN = (0.85, 1.0)
TAIL_N = (0.5, 0.65, 0.8, 0.95)           # exponent grid of a term that has no other shape
RATIO_DECADES = (-2.0, -1.0, 0.0, 1.0, 2.0)
# dimensionless shape parameters without a role of their own (a finite Gerischer's phi,
# Paasch's a): factors 0.3, 1 and 3 of their default (the element's typical value)
SCAN_OTHER = tuple(np.log(10.0) * np.array([-0.5, 0.0, 0.5]))
POWER = {"R": 1.0, "L": 1.0, "W": 1.0, "C": -1.0, "Q": -1.0, "tau": 0.0, "n": 0.0,
         "other": 0.0}


def _unit_role(unit: str, lo: float, hi: float) -> str:
    u = unit.replace(" ", "").lower()
    if u in ("ohm", "Ω".lower()):
        return "R"
    if u == "h":
        return "L"
    if u == "f":
        return "C"
    if u.startswith(("fs^", "ohm^-1s^", "s s^", "ohm^-1*s^")) or u.startswith("f*s^"):
        return "Q"
    if u == "s":
        return "tau"
    if u.startswith("ohms^-1/2") or u.startswith("ohm*s^-1/2") or u.startswith("ohms^(-1/2)"):
        return "W"
    if u in ("", "1", "-") and lo >= 0.0 and hi <= 1.0:
        return "n"
    return "other"


def spec_of(elements, sym):
    """The element spec of a tree leaf: built-ins by symbol; user elements (registered
    with :func:`fastfit.element`) carry their spec in the tree itself."""
    return sym if hasattr(sym, "fn") else elements[sym]


def param_roles(spec) -> tuple:
    """Role of each parameter of an element spec: 'R', 'L', 'C', 'Q', 'W', 'tau', 'n' or
    'other', from its units and bounds."""
    roles = tuple(_unit_role(u, lo, hi) for u, (lo, hi) in zip(spec.units, spec.bounds))
    if spec.symbol == "La":          # (L j w)^n: L is no impedance scale of its own
        roles = ("other", "n")
    return roles


def walk_elements(node, path=()):
    """(symbol, first parameter index, path of (parallel-node id, branch)) per element."""
    if node[0] == "E":
        yield node[1], node[2], path
        return
    for i, child in enumerate(node[1]):
        yield from walk_elements(child, path + ((id(node), i),) if node[0] == "P" else path)


def element_slots(tree) -> list[tuple]:
    """(symbol or user spec, first global parameter index) of every element of a tree."""
    return [(sym, first) for sym, first, _ in walk_elements(tree)]


def _signature(node):
    return ("E", node[1]) if node[0] == "E" else (node[0], tuple(_signature(c) for c in node[1]))


@dataclass
class Term:
    """Candidate shapes of one shaped term."""

    node: tuple                 # kernel subtree
    idx: np.ndarray             # (Pk,) global parameter indices
    vals: np.ndarray            # (C, Pk) unit-scale candidate values
    power: np.ndarray           # (Pk,) how each parameter scales with the term's scale
    coords: np.ndarray          # (C, D) grid coordinates (steps)
    ptau: np.ndarray            # (C,) first time constant (ordering of same-kind terms)
    sig: tuple                  # structure signature (same-kind terms)
    tau_rule: tuple             # how to read the term's time constant from fitted values

    @property
    def size(self) -> int:
        return self.vals.shape[0]


@dataclass
class ScanPlan:
    """Everything the scan kernel needs besides the data."""

    statics: tuple              # (("R" | "L" | "C", index), ...)
    terms: list = field(default_factory=list)
    combos: np.ndarray = None   # (NC, K) int32
    coords: np.ndarray = None   # (NC, D) float64


def _term(node, elements, log_tau, log_tau_slow, n_scan, fixed_vals, n_grid=(),
          tail_n=TAIL_N, other_grid=None):
    params = []        # (global index, role, path, element first index)
    for sym, first, path in walk_elements(node):
        for k, role in enumerate(param_roles(spec_of(elements, sym))):
            params.append((first + k, role, path, spec_of(elements, sym).defaults[k]))
    roles = [p[1] for p in params]
    ref = next((i for i, r in enumerate(roles) if r == "R"), None)
    if ref is None:
        ref = next((i for i, r in enumerate(roles) if r in ("W", "L", "Q", "C")), None)
    dims, grids = [], []
    for i, (gi, role, path, default) in enumerate(params):
        if i == ref or gi in fixed_vals:
            continue
        if role in ("R", "W"):
            dims.append(i), grids.append(np.array(RATIO_DECADES) * np.log(10.0))
        elif role == "tau":
            dims.append(i), grids.append(log_tau_slow)
        elif role in ("Q", "C", "L"):
            dims.append(i), grids.append(log_tau)
        elif role == "other" and other_grid is not None and default > 0:
            dims.append(i), grids.append(np.asarray(other_grid))
    free_n = [i for i, r in enumerate(roles) if r == "n" and params[i][0] not in fixed_vals]
    if not dims:
        if free_n:
            dims, grids = [free_n[0]], [np.array(tail_n)]
    elif len(dims) == 1 and len(free_n) == 1 and len(n_grid) > 1:
        # one time constant and one exponent (R||CPE, ZARC): the exponent is a dimension
        dims.append(free_n[0]), grids.append(np.array(n_grid))
    mesh = np.meshgrid(*grids, indexing="ij") if grids else []
    imesh = np.meshgrid(*[np.arange(len(g), dtype=float) for g in grids], indexing="ij") if grids else []
    C = int(np.prod([len(g) for g in grids])) if grids else 1
    dv = {i: m.ravel() for i, m in zip(dims, mesh)}
    vals = np.zeros((C, len(params)))
    for i, (gi, role, path, default) in enumerate(params):
        if gi in fixed_vals and role in ("n", "tau", "other"):
            vals[:, i] = fixed_vals[gi]
        elif i == ref:
            vals[:, i] = 1.0
        elif role == "n":
            # diffusion-type exponents (typical value 0.5: Woa, Wsa, ...) scale with the
            # scan's exponent from their own typical value; CPE-like ones take it as is
            vals[:, i] = dv.get(i, n_scan if default >= 0.75 else default * n_scan)
        elif role in ("R", "W"):
            vals[:, i] = np.exp(dv[i]) if i in dv else 1.0
        elif role == "tau":
            vals[:, i] = np.exp(dv[i])
        elif role == "other":
            vals[:, i] = default * np.exp(dv[i]) if i in dv else default
    for i, (gi, role, path, default) in enumerate(params):
        if role not in ("Q", "C", "L") or i == ref:
            continue
        # resistance the element relaxes against: R-like parameters in the sibling
        # branches of its innermost parallel block (else the term's scale)
        R = np.zeros(C)
        if path:
            pid, br = path[-1]
            depth = len(path) - 1
            for j, (gj, rj, pj, _) in enumerate(params):
                if rj == "R" and len(pj) > depth and pj[depth][0] == pid and pj[depth][1] != br:
                    R = R + vals[:, j]
        R = np.where(R > 0, R, 1.0)
        tau = np.exp(dv[i]) if i in dv else np.exp(np.median(log_tau))
        if role == "Q":
            n = vals[:, i + 1] if i + 1 < len(params) and roles[i + 1] == "n" else 1.0
            vals[:, i] = tau ** n / R
        elif role == "C":
            vals[:, i] = tau / R
        else:
            vals[:, i] = tau * R
    coords = np.stack([m.ravel() for m in imesh], 1) if grids else np.zeros((1, 0))
    tdims = [i for i in dims if roles[i] in ("tau", "Q", "C", "L")]
    tau_rule = ()
    for i, (gi, role, path, default) in enumerate(params):
        if role == "tau":
            tau_rule = ("tau", gi)
            break
        if role in ("Q", "C"):
            assoc = []
            if path:
                pid, br = path[-1]
                depth = len(path) - 1
                assoc = [gj for gj, rj, pj, _ in params
                         if rj == "R" and len(pj) > depth and pj[depth][0] == pid and pj[depth][1] != br]
            n_gi = params[i + 1][0] if role == "Q" and i + 1 < len(params) and roles[i + 1] == "n" else None
            tau_rule = (role, gi, n_gi, tuple(assoc))
            break
    ptau = np.exp(dv[tdims[0]]) if tdims else np.zeros(C)
    power = np.array([POWER[r] for r in roles])
    return Term(node=node, idx=np.array([p[0] for p in params]), vals=vals, power=power,
                coords=coords, ptau=ptau, sig=_signature(node), tau_rule=tau_rule)


def term_log_tau(term: Term, params: np.ndarray) -> np.ndarray:
    """(B,) ln of a term's first time constant (s) from fitted parameters (B, P); +inf
    when the term has none (it then keeps its place)."""
    rule = term.tau_rule
    B = params.shape[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not rule:
            return np.full(B, np.inf)
        if rule[0] == "tau":
            out = np.log(params[:, rule[1]])
        else:
            R = sum(params[:, j] for j in rule[3]) if rule[3] else np.ones(B)
            n = params[:, rule[2]] if rule[2] is not None else 1.0
            out = np.log(R * params[:, rule[1]]) / np.maximum(n, 1e-6)
    return np.nan_to_num(out, nan=np.inf)


def _combos(terms):
    sizes = [t.size for t in terms]
    if not terms:
        return np.zeros((1, 0), np.int32)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(terms))
    keep = np.ones(len(grid), bool)
    for a in range(len(terms)):
        for b in range(a + 1, len(terms)):
            if terms[a].sig != terms[b].sig:
                continue
            ta, tb = terms[a].ptau, terms[b].ptau
            if np.ptp(ta) == 0 and np.ptp(tb) == 0:
                # interchangeable terms without a time constant (two lone CPEs, W, La):
                # each unordered pair of candidates once (strict tau order kept none)
                keep &= grid[:, a] <= grid[:, b]
            else:
                keep &= ta[grid[:, a]] < tb[grid[:, b]]
    return grid[keep].astype(np.int32)


def split_terms(tree):
    """(statics, shaped term nodes) of a circuit's top-level series connection."""
    items = tree[1] if tree[0] == "S" else (tree,)
    statics = tuple((n[1], n[2]) for n in items if n[0] == "E" and n[1] in ("R", "L", "C"))
    nodes = [n for n in items if not (n[0] == "E" and n[1] in ("R", "L", "C"))]
    return statics, nodes


def term_candidates(nodes, elements, freq_lo, freq_hi, n_scan, fixed_vals, step, step_multi,
                    n_grid, tail_n=TAIL_N, other_grid=None):
    """Candidate shapes of every shaped term (time-constant grids over the measured window
    +-0.5 decade, ``step`` decades apart; ``step_multi`` in terms with several shape
    dimensions)."""
    t_lo = np.log10(1.0 / (2 * np.pi * freq_hi)) - 0.5
    t_hi = np.log10(1.0 / (2 * np.pi * freq_lo)) + 0.5
    terms = []
    for node in nodes:
        n_dims = sum(1 for sym, f, p in walk_elements(node)
                     for r in param_roles(spec_of(elements, sym))
                     if r in ("R", "W", "tau", "Q", "C", "L")) - 1
        st = step if n_dims <= 1 else step_multi
        m = int(np.ceil((t_hi - t_lo) / st)) + 1
        lt = np.log(10.0) * np.linspace(t_lo, t_hi, m)
        m2 = int(np.ceil((t_hi + 1.0 - t_lo) / st)) + 1
        lt_slow = np.log(10.0) * np.linspace(t_lo, t_hi + 1.0, m2)
        terms.append(_term(node, elements, lt, lt_slow, n_scan, fixed_vals, n_grid, tail_n,
                           other_grid))
    return terms


def plan_scan(tree, elements, freq_lo: float, freq_hi: float, n_scan: float, fixed_vals=None,
              step: float = 0.3, step_multi: float = 0.7, max_combos: int = 1500,
              max_term: int = 1200, n_grid=()) -> ScanPlan:
    """Candidate shapes and combinations for one scan exponent.

    freq_lo, freq_hi : measured frequency range (Hz) of the batch
    fixed_vals : {parameter index: value} of fixed exponents/time constants (their
        dimension collapses to that value)
    step, step_multi : grid step (decades) of time constants in terms with one / several
        shape dimensions; both grow by 25 % until the combinations fit ``max_combos``
    """
    fixed_vals = fixed_vals or {}
    statics, nodes = split_terms(tree)
    for _ in range(40):
        terms = term_candidates(nodes, elements, freq_lo, freq_hi, n_scan, fixed_vals, step,
                       step_multi, n_grid, other_grid=SCAN_OTHER)
        combos = _combos(terms)
        if len(combos) <= max_combos and all(t.size <= max_term for t in terms):
            break
        step *= 1.25
        step_multi *= 1.25
    coords = (np.concatenate([t.coords[combos[:, k]] for k, t in enumerate(terms)], axis=1)
              if terms else np.zeros((1, 0)))
    return ScanPlan(statics=statics, terms=terms, combos=combos, coords=coords)


def static_shape(kind: str, omega: np.ndarray) -> np.ndarray:
    if kind == "R":
        return np.ones_like(omega) + 0j
    if kind == "L":
        return 1j * omega
    return -1j / omega


def scan_grid(freq: np.ndarray, Z: np.ndarray, w_re: np.ndarray, w_im: np.ndarray,
              mask: np.ndarray, shared: bool):
    """A common frequency grid for the scan: the data's own when every spectrum shares it,
    else each spectrum's used points interpolated (in log f) onto one log grid over the
    batch's range; weights are 0 outside a spectrum's measured range.  The LM fits the
    data themselves; the scan only ranks starts."""
    if shared:
        return freq[0], Z, w_re, w_im
    fm = np.where(mask, freq, np.nan)
    f_lo, f_hi = np.nanmin(fm), np.nanmax(fm)
    n = int(max(mask.sum(axis=1).max(), 8))
    grid = np.logspace(np.log10(f_hi), np.log10(f_lo), n)
    lg = np.log(grid)
    B = Z.shape[0]
    Zg = np.zeros((B, n), complex)
    wr = np.zeros((B, n))
    wi = np.zeros((B, n))
    for b in range(B):      # host-side resampling of the scan input only
        m = mask[b]
        lf = np.log(freq[b, m])
        o = np.argsort(lf)
        lf = lf[o]
        inside = (lg >= lf[0] - 1e-9) & (lg <= lf[-1] + 1e-9)
        for arr, src in ((Zg, None), (wr, w_re), (wi, w_im)):
            if src is None:
                z = Z[b, m][o]
                arr[b] = np.interp(lg, lf, z.real) + 1j * np.interp(lg, lf, z.imag)
            else:
                arr[b] = np.where(inside, np.interp(lg, lf, src[b, m][o]), 0.0)
    return grid, Zg, wr, wi


def scan_tables(plan: ScanPlan, n_params: int, freq: np.ndarray):
    """The plan's candidate shapes evaluated on the scan grid ``freq`` (F,) Hz, as the
    kernel's :class:`~fastfit.kernels.ScanTables`."""
    from fastfit.kernels import ScanTables, term_shapes

    omega = 2 * np.pi * np.asarray(freq, np.float64)
    V = (np.stack([static_shape(k, omega) for k, _ in plan.statics]) if plan.statics
         else np.zeros((0, omega.size), complex))
    Us = tuple(np.asarray(term_shapes(t.node, n_params, tuple(int(i) for i in t.idx), t.vals,
                                      omega)) for t in plan.terms)
    return ScanTables(statics=plan.statics, V=V, Us=Us, combos=plan.combos, coords=plan.coords,
                      term_idx=tuple(tuple(int(i) for i in t.idx) for t in plan.terms),
                      term_vals=tuple(t.vals for t in plan.terms),
                      term_power=tuple(t.power for t in plan.terms))


def loose_mask(tree) -> tuple:
    """(P,) bool per parameter: whether its relative standard error tells that the data
    determine a term loosely (every parameter but a CPE-like Q, whose error in its
    n-dependent units follows the exponent's; the time constant it forms is covered by the
    resistance and the exponent)."""
    from fastfit.kernels import ELEMENTS

    out = {}
    for sym, first, _ in walk_elements(tree):
        for k, role in enumerate(param_roles(spec_of(ELEMENTS, sym))):
            out[first + k] = role != "Q"
    return tuple(out[k] for k in range(len(out)))
