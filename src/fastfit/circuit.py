"""Circuit strings -> :class:`Circuit`.

Grammar (compatible with impedance.py's strings; whitespace is ignored)::

    circuit  := series
    series   := term ('-' term)*
    term     := 'p' '(' series (',' series)+ ')' | element
    element  := TYPE INDEX          e.g. R0, CPE1, Wo2   (TYPE from the element library
                                    or a user element, see :func:`fastfit.element`;
                                    INDEX = digits, optionally followed by '_' and word chars)

The string is tokenised and parsed by recursive descent into a frozen tree (no ``eval``,
no string surgery); errors raise :class:`~fastfit.errors.CircuitSyntaxError` with the
column of the offending character.
"""
from __future__ import annotations

import re
from functools import cached_property
from typing import Sequence

import numpy as np

from .errors import CircuitSyntaxError, ShapeError

__all__ = ["Circuit", "element_types"]

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z]+[0-9]*(?:_\w+)?)|(?P<op>[-(),]))")


def element_types() -> dict:
    """Element symbols known to circuit strings -> :class:`fastfit.kernels.ElementSpec`:
    the built-in library, then the user elements registered with :func:`fastfit.element`."""
    from fastfit.kernels.elements import ELEMENTS

    from .elements import user_elements

    user = user_elements()
    return {**ELEMENTS, **user} if user else ELEMENTS


def _tokenize(text: str):
    pos = 0
    out = []
    n = len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise CircuitSyntaxError(f"unexpected character {text[pos]!r}", text, pos)
        start = m.start("name") if m.group("name") else m.start("op")
        out.append((m.group("name") or m.group("op"), start))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.specs: list = []
        self.n_params = 0
        self.seen: dict[str, int] = {}

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, len(self.text))

    def take(self, expected=None):
        tok, pos = self.peek()
        if tok is None:
            raise CircuitSyntaxError(
                "unexpected end of circuit" + (f", expected {expected!r}" if expected else ""),
                self.text, pos)
        if expected is not None and tok != expected:
            raise CircuitSyntaxError(f"expected {expected!r}, found {tok!r}", self.text, pos)
        self.i += 1
        return tok, pos

    def parse(self):
        if not self.tokens:
            raise CircuitSyntaxError("empty circuit string", self.text, 0)
        tree = self.series()
        tok, pos = self.peek()
        if tok is not None:
            raise CircuitSyntaxError(f"unexpected {tok!r} after a complete circuit", self.text, pos)
        return tree

    def series(self):
        terms = [self.term()]
        while self.peek()[0] == "-":
            self.take("-")
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else ("S", tuple(terms))

    def term(self):
        tok, pos = self.peek()
        if tok is None:
            raise CircuitSyntaxError("unexpected end of circuit, expected an element or p(", self.text, pos)
        if tok == "p":
            self.take()
            self.take("(")
            branches = [self.series()]
            while self.peek()[0] == ",":
                self.take(",")
                branches.append(self.series())
            self.take(")")
            if len(branches) < 2:
                raise CircuitSyntaxError("a parallel block p(...) needs at least two branches",
                                         self.text, pos)
            return ("P", tuple(branches))
        if tok in "-(),":
            raise CircuitSyntaxError(f"expected an element or p(, found {tok!r}", self.text, pos)
        self.take()
        return self.element(tok, pos)

    def element(self, tok, pos):
        m = re.fullmatch(r"([A-Za-z]+)([0-9]+(?:_\w+)?|_\w+)?", tok)
        kind, index = (m.group(1), m.group(2)) if m else (tok, None)
        elements = element_types()
        if kind not in elements:
            known = ", ".join(sorted(elements))
            raise CircuitSyntaxError(f"unknown element type {kind!r} (known: {known})", self.text, pos)
        if not index:
            raise CircuitSyntaxError(f"element {tok!r} needs an index, e.g. {kind}0", self.text, pos)
        if tok in self.seen:
            raise CircuitSyntaxError(f"element {tok!r} appears twice (first at column "
                                     f"{self.seen[tok]})", self.text, pos)
        self.seen[tok] = pos
        spec = elements[kind]
        first = self.n_params
        for suffix in spec.names:
            self.names.append(tok if suffix == "" else f"{tok}_{suffix}")
        self.kinds.append(tok)
        self.specs.append(spec)
        self.n_params += len(spec.names)
        # a user element's leaf carries its definition (see kernels._circuit)
        return ("E", kind if kind in _builtin() else spec, first, tok)


def _builtin() -> dict:
    from fastfit.kernels.elements import ELEMENTS

    return ELEMENTS


def _strip_names(tree):
    """Kernel tree without element names: ("E", symbol, first)."""
    if tree[0] == "E":
        return tree[:3]
    return (tree[0], tuple(_strip_names(c) for c in tree[1]))


def _render(tree) -> str:
    if tree[0] == "E":
        return tree[3]
    if tree[0] == "S":
        return "-".join(_render(c) for c in tree[1])
    return "p(" + ",".join(_render(c) for c in tree[1]) + ")"


class Circuit:
    """An equivalent circuit parsed from an impedance.py-style string.

    >>> c = Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
    >>> c.param_names
    ['R0', 'R1', 'CPE1_Q', 'CPE1_n', 'R2', 'CPE2_Q', 'CPE2_n']

    Parameter order: elements in string order; within an element, the order of its
    element docstring (CPE: Q, n).  A parsed circuit is immutable and hashable (by its
    canonical string), so it can key compiled-program caches.
    """

    __slots__ = ("_text", "_tree", "_names", "_elements", "_specs", "__dict__")

    def __init__(self, text: str):
        if isinstance(text, Circuit):
            text = str(text)
        if not isinstance(text, str):
            raise CircuitSyntaxError(f"a circuit must be a string, got {type(text).__name__}")
        parser = _Parser(text)
        tree = parser.parse()
        self._text = _render(tree)
        self._tree = tree
        self._names = tuple(parser.names)
        self._elements = tuple(parser.kinds)
        self._specs = tuple(parser.specs)

    # ---------------------------------------------------------------- identity
    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Circuit({self._text!r})"

    def __hash__(self) -> int:
        return hash(self._text)

    def __eq__(self, other) -> bool:
        # the tree as well: the same string parsed before and after a user element was
        # redefined (fastfit.element(..., replace=True)) names two different models
        return isinstance(other, Circuit) and other._text == self._text and \
            other._tree == self._tree

    def __reduce__(self):
        return (Circuit, (self._text,))

    # ------------------------------------------------------------- description
    @property
    def tree(self):
        """Static kernel tree (nested tuples) used by :mod:`fastfit.kernels`."""
        return _strip_names(self._tree)

    @property
    def elements(self) -> list[str]:
        """Element names in string order (['R0', 'R1', 'CPE1', ...])."""
        return list(self._elements)

    @property
    def param_names(self) -> list[str]:
        return list(self._names)

    @property
    def n_params(self) -> int:
        return len(self._names)

    def _per_param(self, field: str) -> list:
        out = []
        for spec in self._specs:
            out.extend(getattr(spec, field))
        return out

    @property
    def units(self) -> list[str]:
        """Unit of each parameter, aligned with ``param_names``."""
        return self._per_param("units")

    @property
    def default_bounds(self) -> np.ndarray:
        """(P, 2) float64: default (lower, upper) bound of each parameter."""
        return np.array(self._per_param("bounds"), np.float64).reshape(-1, 2)

    @property
    def default_values(self) -> np.ndarray:
        """(P,) float64: typical values (a generic starting point, not a data-derived one)."""
        return np.array(self._per_param("defaults"), np.float64)

    @property
    def log_scale(self) -> np.ndarray:
        """(P,) bool: parameters that are positive scales (fitted on a log axis)."""
        return np.array(self._per_param("log_scale"), bool)

    def param_index(self, name: str) -> int:
        """Index of a parameter by name; also accepts impedance.py aliases ("CPE1_0")."""
        if name in self._names:
            return self._names.index(name)
        m = re.fullmatch(r"(.+)_(\d+)", name)
        if m and m.group(1) in self._elements:
            elem, k = m.group(1), int(m.group(2))
            idx = [i for i, n in enumerate(self._names) if n == elem or n.startswith(elem + "_")]
            if k < len(idx):
                return idx[k]
        raise ShapeError(f"unknown parameter {name!r} for circuit {self._text}; "
                         f"parameters are {', '.join(self._names)}")

    # -------------------------------------------------------------- evaluation
    def _check_params(self, params) -> np.ndarray:
        p = np.asarray(params, np.float64)
        if p.ndim == 0 or p.shape[-1] != self.n_params:
            got = p.shape if p.ndim else "a scalar"
            raise ShapeError(f"circuit {self._text} takes {self.n_params} parameters "
                             f"({', '.join(self._names)}); got params of shape {got}")
        return p

    def impedance(self, freq, params) -> np.ndarray:
        """Complex impedance Z(freq) in ohm.

        Parameters
        ----------
        freq : (F,) or (B, F) float, Hz (finite, > 0)
        params : (P,) or (B, P) float, units as in ``units``

        Returns
        -------
        Z : (F,) or (B, F) complex128, ohm
        """
        from fastfit.kernels import circuit_impedance

        p = self._check_params(params)
        f = np.asarray(freq, np.float64)
        if f.ndim not in (1, 2) or f.size == 0:
            raise ShapeError(f"freq must have shape (F,) or (B, F); got {f.shape}")
        if not np.all(np.isfinite(f) & (f > 0)):
            from .errors import DataError
            raise DataError("freq must be finite and > 0 Hz")
        if f.ndim == 2 and p.ndim == 2 and f.shape[0] != p.shape[0]:
            raise ShapeError(f"freq has {f.shape[0]} spectra but params has {p.shape[0]}")
        if p.ndim > 2:
            raise ShapeError(f"params must be (P,) or (B, P); got {p.shape}")
        return np.asarray(circuit_impedance(self.tree, p, f))

    def impedance_and_jacobian(self, freq, params) -> tuple[np.ndarray, np.ndarray]:
        """Z (..., F) and analytic dZ/dp (..., F, P), composed through the tree."""
        from fastfit.kernels import circuit_impedance_jac

        p = self._check_params(params)
        Z, J = circuit_impedance_jac(self.tree, p, np.asarray(freq, np.float64))
        return np.asarray(Z), np.asarray(J)

    def jax_fn(self):
        """A pure JAX function ``Z(params (..., P), freq (F,) | (..., F)) -> complex (..., F)``.

        It accepts ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (of a real loss): the
        embedding API for other codes.
        """
        from fastfit.kernels import circuit_impedance

        tree = self.tree

        def Z(params, freq):
            return circuit_impedance(tree, params, freq)

        return Z

    def element_params(self, params: Sequence[float]) -> dict:
        """{element name: {parameter suffix or '': value}} for one parameter vector."""
        p = self._check_params(params)
        out: dict = {}
        for name, v in zip(self._names, p):
            elem, _, suffix = name.partition("_")
            out.setdefault(elem, {})[suffix] = float(v)
        return out

    @cached_property
    def n_elements(self) -> int:
        return len(self._elements)
