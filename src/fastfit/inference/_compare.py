"""`compare`: several candidate circuits fitted to every spectrum, ranked per spectrum."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import ClassVar, Mapping

import numpy as np

from .._results import BatchResult
from ..circuit import Circuit
from ..errors import DataError, ShapeError
from ..fitting import FitResult, fit
from ._criteria import CRITERIA, f_test, information_criteria, rank_scores
from ._nesting import nested_pairs
from ._refits import PER_NAME, shared_refits

__all__ = ["compare", "Comparison"]


@dataclass(frozen=True, eq=False)
class Comparison(BatchResult):
    """Candidate circuits fitted to B spectra and ranked per spectrum (``cmp[key]``: a
    sub-batch, every candidate's fit indexed alike).

    Attributes
    ----------
    circuits : tuple of M Circuit, the candidates in the order given
    criterion : str, "bic", "aic" or "aicc": what ``best`` and ``weights`` use
    results : tuple of M FitResult, one per candidate, B spectra each
    best_index : (B,) int64, index of the chosen circuit per spectrum; -1 where no
        candidate converged
    scores : (B, M) float64, the criterion per spectrum and candidate (lower is better);
        NaN where the candidate is excluded
    weights : (B, M) float64, criterion weights exp(-Δ/2) / Σ exp(-Δ/2), Δ = score - min
        score (Akaike weights for "aic"/"aicc", approximate posterior model probabilities
        under equal priors for "bic"); 0 for excluded candidates, each row sums to 1 (0
        where nothing converged)
    excluded : (B, M) bool, candidate fit failed (status <= 0: budget exhausted,
        singular, non-finite) and is left out of the choice
    pairs : tuple of (i, j), candidate i nested in candidate j (smaller first)
    p_values : (B, len(pairs)) float64, F-test p-value of each pair: small p says the
        bigger circuit's improvement is more than noise; NaN where either fit is excluded
    options : dict, the fit options used
    """

    circuits: tuple
    criterion: str
    results: tuple
    best_index: np.ndarray
    scores: np.ndarray
    weights: np.ndarray
    excluded: np.ndarray
    pairs: tuple
    p_values: np.ndarray
    options: dict = field(default_factory=dict)

    rows_field: ClassVar[str] = "best_index"
    shared_fields: ClassVar[frozenset] = frozenset({"circuits", "criterion", "pairs", "options"})
    status_type: ClassVar[type | None] = None

    def __getitem__(self, key):
        """The spectra ``key`` (int, slice, boolean mask or index array) as a Comparison;
        an int gives a batch of one."""
        idx = _row_index(len(self), key)
        return replace(self, results=tuple(r[idx] for r in self.results),
                       best_index=self.best_index[idx], scores=self.scores[idx],
                       weights=self.weights[idx], excluded=self.excluded[idx],
                       p_values=self.p_values[idx])

    @property
    def ok(self) -> np.ndarray:
        """(B,) bool: at least one candidate converged (a choice was made)."""
        return self.best_index >= 0

    @property
    def message(self) -> list[str]:
        """Per spectrum: the chosen circuit and its weight, or why there is none."""
        return [f"{self.names[b]} (weight {self.weights[i, b]:.3g})" if b >= 0 else
                "no candidate converged" for i, b in enumerate(self.best_index)]

    @property
    def names(self) -> list[str]:
        """The candidates' circuit strings."""
        return [str(c) for c in self.circuits]

    @property
    def best(self) -> np.ndarray:
        """(B,) object array: the chosen circuit string per spectrum (None where no
        candidate converged)."""
        names = np.array(self.names + [None], dtype=object)
        return names[self.best_index]

    @property
    def n_params(self) -> np.ndarray:
        """(M,) int: free parameters of each candidate."""
        return np.array([r.n_free for r in self.results], np.int64)

    def counts(self) -> dict[str, int]:
        """How many spectra chose each candidate ({circuit: count}; "none" for spectra
        where no candidate converged)."""
        out = {n: int(np.count_nonzero(self.best_index == m)) for m, n in enumerate(self.names)}
        out["none"] = int(np.count_nonzero(self.best_index < 0))
        return out

    def p_value(self, small, big) -> np.ndarray:
        """(B,) F-test p-values of one nested pair, by index or circuit string."""
        i, j = self._index(small), self._index(big)
        if (i, j) not in self.pairs:
            raise DataError(f"{self.names[i]} is not paired as nested in {self.names[j]}; "
                            f"pairs: {self._pair_text()}")
        return self.p_values[:, self.pairs.index((i, j))]

    def _index(self, c) -> int:
        if isinstance(c, (int, np.integer)):
            if not 0 <= c < len(self.circuits):
                raise ShapeError(f"circuit index {c} out of range for {len(self.circuits)} "
                                 "candidates")
            return int(c)
        text = str(Circuit(c)) if isinstance(c, str) else str(c)
        if text not in self.names:
            raise ShapeError(f"circuit {text} is not a candidate ({', '.join(self.names)})")
        return self.names.index(text)

    def _pair_text(self) -> str:
        return ", ".join(f"{i}<{j}" for i, j in self.pairs) or "none"

    def to_dataframe(self):
        """Tidy pandas DataFrame, one row per (spectrum, candidate): spectrum, circuit,
        n_params, chi2, chi2_red, aic, aicc, bic, status, weight, excluded, best."""
        import pandas as pd

        B, M = self.scores.shape
        cols = {k: [] for k in ("chi2", "chi2_red", "aic", "aicc", "bic", "status")}
        for r in self.results:
            ic = information_criteria(r)
            cols["chi2"].append(r.chi2)
            cols["chi2_red"].append(r.chi2_red)
            for k in ("aic", "aicc", "bic"):
                cols[k].append(ic[k])
            cols["status"].append(r.status.astype(np.int64))
        data = {"spectrum": np.repeat(np.arange(B), M),
                "circuit": np.tile(np.array(self.names, dtype=object), B),
                "n_params": np.tile(self.n_params, B)}
        data.update({k: np.stack(v, axis=1).reshape(-1) for k, v in cols.items()})
        data["weight"] = self.weights.reshape(-1)
        data["excluded"] = self.excluded.reshape(-1)
        data["best"] = (self.best_index[:, None] == np.arange(M)[None, :]).reshape(-1)
        return pd.DataFrame(data)

    def f_tests(self):
        """pandas DataFrame of the nested pairs, one row per (spectrum, pair): spectrum,
        small, big, p_value."""
        import pandas as pd

        B, K = self.p_values.shape
        return pd.DataFrame({
            "spectrum": np.repeat(np.arange(B), K),
            "small": np.tile(np.array([self.names[i] for i, _ in self.pairs], dtype=object), B),
            "big": np.tile(np.array([self.names[j] for _, j in self.pairs], dtype=object), B),
            "p_value": self.p_values.reshape(-1)})

    def summary(self) -> str:
        """Readable table: per candidate its parameters, how often it was chosen, its
        median weight and how many of its fits failed."""
        B = len(self)
        lines = [f"Comparison of {len(self.circuits)} circuits on {B} spectra "
                 f"(criterion {self.criterion}; failed fits excluded)"]
        head = ("#", "circuit", "k", "chosen", "median weight", "failed")
        rows = []
        for m, name in enumerate(self.names):
            w = self.weights[:, m]
            rows.append((str(m), name, str(self.n_params[m]),
                         str(int(np.count_nonzero(self.best_index == m))),
                         f"{np.median(w):.3g}" if B else "-",
                         str(int(np.count_nonzero(self.excluded[:, m])))))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:>{w}}}" if i != 1 else f"{{:<{w}}}" for i, w in enumerate(widths))
        lines.append(fmt.format(*head))
        lines.extend(fmt.format(*r) for r in rows)
        none = int(np.count_nonzero(self.best_index < 0))
        if none:
            lines.append(f"{none} spectra: no candidate converged (best_index -1)")
        if self.pairs:
            lines.append(f"nested pairs (F-test p-values in p_values): {self._pair_text()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Comparison({len(self.circuits)} circuits, {len(self)} spectra, {self.criterion})"


def _row_index(n: int, key) -> np.ndarray:
    """Index array of the rows ``key`` selects (int -> one row)."""
    if isinstance(key, (bool, np.bool_)):
        raise TypeError("a spectrum index must be an int, slice, boolean mask or index array")
    if isinstance(key, (int, np.integer)):
        if not -n <= key < n:
            raise IndexError(f"spectrum index {key} out of range for {n} spectra")
        return np.array([key % n])
    return np.arange(n)[key]


def _fit_options(circuit: Circuit, options: dict) -> dict:
    """``options`` for one candidate: per-name options (p0, bounds, fixed) keep the names
    this circuit has."""
    out = {}
    for k, v in options.items():
        if k not in PER_NAME or v is None:
            out[k] = v
            continue
        names = set(circuit.param_names)
        if isinstance(v, Mapping):
            sub = {n: x for n, x in v.items() if n in names}
        else:
            sub = [n for n in np.atleast_1d(np.asarray(v)).tolist() if n in names]
        if sub:
            out[k] = sub
    return out


def _check_options(options: dict, circuits) -> None:
    allowed = set(inspect.signature(fit).parameters) - {"freq", "Z", "circuit"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DataError(f"compare: unknown fit option(s) {', '.join(unknown)}; fit options "
                        f"are {', '.join(sorted(allowed))}")
    if options.get("extra_starts") is not None:
        raise DataError("compare: extra_starts differ per circuit; fit the candidates "
                        "separately to give them")
    every = set().union(*(c.param_names for c in circuits))
    for k in PER_NAME:
        v = options.get(k)
        if v is None:
            continue
        if isinstance(v, Mapping):
            names = list(v)
        else:
            arr = np.atleast_1d(np.asarray(v))
            if k != "fixed" or arr.dtype.kind not in "US":
                raise ShapeError(f"compare: {k} must be a {{name: value}} mapping (or, for "
                                 "fixed, a list of names): the candidates have different "
                                 "parameters")
            names = arr.tolist()
        missing = [n for n in names if n not in every]
        if missing:
            raise DataError(f"compare: {k} names {', '.join(map(str, missing))}, which no "
                            "candidate has")


def _pairs(nested, circuits) -> tuple:
    if nested is None:
        return tuple(nested_pairs(circuits))
    names = [str(c) for c in circuits]
    out = []
    for pair in nested:
        try:
            a, b = pair
        except (TypeError, ValueError):
            raise ShapeError(f"nested: each pair must be (smaller, bigger); got {pair!r}") from None
        ij = []
        for c in (a, b):
            if isinstance(c, (int, np.integer)):
                if not 0 <= c < len(circuits):
                    raise ShapeError(f"nested: circuit index {c} out of range for "
                                     f"{len(circuits)} candidates")
                ij.append(int(c))
            else:
                text = str(Circuit(c))
                if text not in names:
                    raise ShapeError(f"nested: circuit {text} is not a candidate")
                ij.append(names.index(text))
        i, j = ij
        if circuits[i].n_params >= circuits[j].n_params:
            raise DataError(f"nested: {names[i]} must have fewer parameters than {names[j]}")
        out.append((i, j))
    return tuple(out)


def compare(freq, Z=None, circuits=None, criterion: str = "bic", *, nested=None,
            shared_starts: bool = True, **fit_options) -> Comparison:
    r"""Fit every candidate circuit to every spectrum and choose one per spectrum.

    Parameters
    ----------
    freq : (F,) or (B, F) float, Hz -- or a :class:`SpectrumSeries` (then ``Z`` is
        omitted and ``circuits`` may be the second argument)
    Z : (F,) or (B, F) complex, ohm
    circuits : sequence of M >= 2 str or Circuit, the candidates
    criterion : "bic" (default), "aic" or "aicc": lower is better (see
        :func:`information_criteria`)
    nested : optional sequence of (smaller, bigger) pairs (indices or circuit strings)
        to F-test; default: every pair found structurally (:func:`is_nested`: one
        circuit's string is the other's with elements removed)
    shared_starts : where a candidate fits a spectrum worse than the chosen circuit, fit
        it again starting from the chosen circuit's values of the parameters they share
        (default True; see Notes)
    **fit_options : passed to :func:`fastfit.fit` for every candidate (``weight``,
        ``mask``, ``starts``, ``max_iter``, ``chunk``...).  ``p0``, ``bounds`` and ``fixed``
        must be given by parameter name; each candidate takes the names it has.

    Returns
    -------
    Comparison

    Raises
    ------
    ShapeError, DataError
        fewer than two candidates, a duplicate, unknown options, and what
        :func:`fastfit.fit` raises.

    Notes
    -----
    Each candidate is one batched :func:`fastfit.fit` call over all spectra, so comparing
    M circuits costs the sum of M fits, plus the refits of ``shared_starts``: a
    candidate j that fits a spectrum worse (higher chi2) than a candidate i it shares
    elements with is fitted again by LM, starting from i's values of the shared
    parameters and a grid of time constants for its other elements, and the better fit
    is kept; then the choice is made again.  That happens where i is nested in j; where
    j would be chosen if it fitted as well as i; and where the chosen circuit leaves
    residuals correlated along frequency (:func:`residual_correlation` > 0.3, a missing
    arc or tail) and j has more parameters.
    At its optimum a circuit fits at least as well as any circuit nested in it, so a
    bigger circuit that fits worse has missed its optimum; a circuit that shares most
    elements with the winner (two arcs and a Warburg against three arcs) starts next to
    its own optimum from the winner's.  Per spectrum the candidates whose fit failed
    (status <= 0) are excluded; among the rest the lowest criterion wins, and the weights
    are :math:`w_m = e^{-\Delta_m/2} / \sum_j e^{-\Delta_j/2}` (Burnham and Anderson,
    *Model Selection and Multimodel Inference*, Springer 2002, sec. 2.9).  A candidate at
    a bound (status AT_BOUND) is kept: its k still counts every free parameter.
    For nested pairs the F-test treats the removed elements' limit (R -> 0, C -> 0...) as
    the null; that limit lies on the boundary of the bigger model's parameter space, so
    the p-values are approximate (conservative in the usual case; Self and Liang, JASA 82
    (1987) 605, doi:10.1080/01621459.1987.10478472).

    Examples
    --------
    >>> cmp = compare(freq, Z, ["R0-p(R1,CPE1)", "R0-p(R1,CPE1)-p(R2,CPE2)"])  # doctest: +SKIP
    >>> cmp.best[:3], cmp.weights[:3]                                          # doctest: +SKIP
    """
    if circuits is None and isinstance(Z, (list, tuple)) and hasattr(freq, "Z"):
        circuits, Z = Z, None
    if circuits is None or isinstance(circuits, (str, Circuit)):
        raise ShapeError("circuits must be a sequence of at least two circuit strings")
    cs = [c if isinstance(c, Circuit) else Circuit(c) for c in circuits]
    if len(cs) < 2:
        raise ShapeError(f"circuits: compare needs at least two candidates; got {len(cs)}")
    names = [str(c) for c in cs]
    dup = [n for k, n in enumerate(names) if n in names[:k]]
    if dup:
        raise DataError(f"circuits: {dup[0]} is given twice")
    if criterion not in CRITERIA:
        raise DataError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    _check_options(fit_options, cs)
    pairs = _pairs(nested, cs)
    progress = fit_options.pop("progress", None)
    results = []
    for m, c in enumerate(cs):
        opts = _fit_options(c, fit_options)
        if progress is not None:
            opts["progress"] = _offset_progress(progress, m, len(cs))
        results.append(fit(freq, Z, c, **opts))
    if shared_starts:
        shared_refits(freq, Z, cs, results, criterion, fit_options)
    return _rank(tuple(cs), criterion, tuple(results), pairs, fit_options)



def _offset_progress(progress, m: int, M: int):
    def report(done: int, total: int) -> None:
        progress(m * total + done, M * total)
    return report



def _rank(circuits, criterion, results, pairs, options) -> Comparison:
    """Scores, choice, weights and F-tests from the candidates' fits."""
    scores, excluded, best = rank_scores(results, criterion)
    any_ok = best >= 0
    with np.errstate(invalid="ignore"):
        delta = scores - np.nanmin(np.where(any_ok[:, None], scores, 0.0), axis=1, keepdims=True)
    w = np.where(excluded, 0.0, np.exp(-0.5 * np.where(excluded, 0.0, delta)))
    total = w.sum(axis=1, keepdims=True)
    weights = np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)
    B = len(results[0])
    p = np.full((B, len(pairs)), np.nan)
    for k, (i, j) in enumerate(pairs):
        p[:, k] = f_test(results[i], results[j], excluded[:, i] | excluded[:, j])
    return Comparison(circuits=circuits, criterion=criterion, results=results,
                      best_index=best.astype(np.int64), scores=scores, weights=weights,
                      excluded=excluded, pairs=pairs, p_values=p, options=dict(options))

