"""User-defined circuit elements written as plain JAX functions.

>>> import jax.numpy as jnp
>>> import fastfit as ff
>>> @ff.element("Rq", params=["R", "Q", "n"], units=["ohm", "F s^(n-1)", "1"],
...             bounds=[(0, jnp.inf), (0, jnp.inf), (0, 1)], defaults=[100, 1e-6, 0.9])
... def r_par_cpe(p, omega):
...     R, Q, n = p[..., 0:1], p[..., 1:2], p[..., 2:3]
...     return R / (1 + R * Q * (1j * omega) ** n)
>>> ff.Circuit("R0-Rq1").param_names
['R0', 'Rq1_R', 'Rq1_Q', 'Rq1_n']

The function takes ``p`` (..., k) float64 and ``omega`` (F,) rad/s and returns the
complex impedance (..., F) in ohm.  fastfit calls it once per spectrum (``p`` (k,),
``omega`` (F,)), vectorised with ``jnp.vectorize``, so per-spectrum frequency grids
(``omega`` (B, F)) need nothing from it.  Its derivatives come from forward-mode
automatic differentiation (``jax.jacfwd``: one pass with a k-column tangent); the
element then works wherever a built-in does: circuit strings (``Rq1`` -> ``Rq1_R``,
``Rq1_Q``, ``Rq1_n``, impedance.py-style ``Rq1_0`` aliases), :func:`fastfit.fit`,
:func:`fastfit.fit_series`, covariances, :meth:`Circuit.jax_fn`, and the command line
(``--element-module FILE.py``, a file that registers elements when imported).

Registration checks everything before the element is usable and raises
:class:`~fastfit.errors.ElementError`: a symbol that is not letters only, is ``p`` or
clashes with a built-in; ``params``/``units``/``bounds``/``defaults`` of different
lengths; bounds that are not ``lo < hi``; defaults outside the bounds; a function that
JAX cannot trace, that does not return complex128 of shape (F,), or whose value or
derivatives are not finite at the probe: 19 frequencies from 1 mHz to 1 MHz at the
default parameters.  Default values, where not given, come from the bounds (the
midpoint of a finite interval; lo + max(1, |lo|) for (lo, inf), so 1 for (0, inf);
hi - max(1, |hi|) for (-inf, hi); 1 for (-inf, inf)).  Parameters bounded by (0, inf)
with a lower bound >= 0 and no upper bound are fitted on a log scale unless
``log_scale=`` says otherwise.

Registering a symbol again: the same function object with the same metadata is a no-op;
a function with identical code and metadata (a notebook cell run twice, a module
imported again) replaces the old definition silently; anything else raises
:class:`ElementError` unless ``replace=True``.  A replaced definition never leaks into
compiled programs: a parsed :class:`~fastfit.Circuit` carries the definition it was
parsed with in its kernel tree (the key of every compiled-program cache), so circuits
parsed before the replacement keep the old element and circuits parsed after it get the
new one, each with its own compiled programs.

Registrations live in this process.  A circuit sent to another process (pickled, e.g. to
Dask workers by :mod:`fastfit.distributed`) is parsed again there, so the element must be
registered there too: import the defining module on the workers (``fastfit fit
--scheduler ... --element-module FILE.py`` does this with a worker plugin).
"""
from __future__ import annotations

import hashlib
import math
import re
import sys
import types
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ElementError

__all__ = ["element", "register", "unregister", "user_elements", "load_module",
           "load_source", "markdown_table", "PROBE_FREQ"]

_USER: dict = {}        # symbol -> ElementSpec (fastfit.kernels.ElementSpec)
_ORIGIN: dict = {}      # symbol -> (user function, metadata) for re-registration checks
_SYMBOL = re.compile(r"[A-Za-z]+")
_PARAM = re.compile(r"[A-Za-z]\w*")
PROBE_FREQ = np.logspace(-3, 6, 19)     # Hz: 1 mHz - 1 MHz


def user_elements() -> dict:
    """{symbol: ElementSpec} of the elements registered in this process."""
    return dict(_USER)


def element(symbol: str, params: Sequence[str], units: Sequence[str] | None = None,
            bounds: Sequence | None = None, defaults: Sequence[float] | None = None, *,
            log_scale: Sequence[bool] | None = None, doc: str | None = None, title: str = "",
            reference: str = "", replace: bool = False) -> Callable:
    r"""Decorator: register ``fn(p, omega) -> Z`` as circuit element ``symbol``.

    Parameters
    ----------
    symbol : str
        Letters only (``[A-Za-z]+``), not ``p`` and not a built-in symbol; used in circuit
        strings as ``<symbol><index>`` (``Y1``).
    params : sequence of str
        Parameter suffixes in the order of the last axis of ``p``: ``Y1_Q``, ``Y1_n`` ...
        (a letter, then letters, digits or ``_``).
    units : sequence of str, optional
        Unit of each parameter (default ``""``); ``"ohm"``/``"F..."``/``"H"`` units are
        scaled by ``--area-cm2`` in area-specific tables.
    bounds : sequence of (lo, hi), optional
        Default fit bounds per parameter (default ``(-inf, inf)``), ``lo < hi``.
    defaults : sequence of float, optional
        Typical values (generic starting point, probe point); default from ``bounds``.
    log_scale : sequence of bool, optional
        Fit on a log axis; default: True where ``lo >= 0`` and ``hi = inf``.
    doc, title, reference : str
        One-line formula (default: the function's first docstring line), a short name
        and the literature source, shown by :func:`markdown_table`.
    replace : bool
        Replace an existing definition of ``symbol`` with different code or metadata.

    Returns
    -------
    The function itself, unchanged.

    Raises
    ------
    ElementError
        See the module docstring for the checks.
    """
    def decorate(fn: Callable) -> Callable:
        register(symbol, fn, params, units, bounds, defaults, log_scale=log_scale, doc=doc,
                 title=title, reference=reference, replace=replace)
        return fn

    return decorate


def register(symbol: str, fn: Callable, params: Sequence[str],
             units: Sequence[str] | None = None, bounds: Sequence | None = None,
             defaults: Sequence[float] | None = None, *, log_scale: Sequence[bool] | None = None,
             doc: str | None = None, title: str = "", reference: str = "",
             replace: bool = False):
    """Register ``fn`` as element ``symbol`` (the function form of :func:`element`).

    Returns the element's ``ElementSpec``.
    """
    from fastfit.kernels import ELEMENTS, ElementSpec

    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
        raise ElementError(f"element symbol {symbol!r} must be letters only (A-Z, a-z), "
                           "e.g. 'Y'")
    if symbol == "p":
        raise ElementError("element symbol 'p' is the parallel operator p(...)")
    if symbol in ELEMENTS:
        raise ElementError(f"element symbol {symbol!r} is a built-in element "
                           f"({ELEMENTS[symbol].doc}); choose another symbol")
    if not callable(fn):
        raise ElementError(f"element {symbol}: the function is not callable")
    names, units, bounds, defaults, log_scale = _metadata(symbol, params, units, bounds,
                                                          defaults, log_scale)
    if doc is None:
        doc = (getattr(fn, "__doc__", None) or "").strip().split("\n")[0].strip()
    meta = (names, units, bounds, defaults, log_scale, doc, title, reference)
    if symbol in _ORIGIN:
        old_fn, old_meta = _ORIGIN[symbol]
        if old_fn is fn and old_meta == meta:
            return _USER[symbol]
        if not replace and not (old_meta == meta and _same_code(old_fn, fn)):
            raise ElementError(f"element {symbol!r} is already registered with another "
                               "definition; pass replace=True to replace it (circuits "
                               "parsed before keep the old one)")
    k = len(names)
    kernel_fn = _autodiff(fn, k)
    _probe(symbol, kernel_fn, fn, names, defaults)
    spec = ElementSpec(symbol, names, units, defaults, bounds, log_scale, kernel_fn, doc,
                       title, reference)
    _USER[symbol] = spec
    _ORIGIN[symbol] = (fn, meta)
    return spec


def unregister(symbol: str) -> None:
    """Forget user element ``symbol`` (circuits parsed before keep their definition)."""
    if symbol not in _USER:
        raise ElementError(f"no user element {symbol!r} is registered")
    del _USER[symbol], _ORIGIN[symbol]


# ------------------------------------------------------------------ validation
def _metadata(symbol, params, units, bounds, defaults, log_scale):
    if isinstance(params, str) or not isinstance(params, Sequence) or not params:
        raise ElementError(f"element {symbol}: params must be a non-empty list of names, "
                           f"got {params!r}")
    names = tuple(params)
    for nm in names:
        if not isinstance(nm, str) or not _PARAM.fullmatch(nm):
            raise ElementError(f"element {symbol}: parameter name {nm!r} must be a letter "
                               "followed by letters, digits or '_'")
    if len(set(names)) != len(names):
        raise ElementError(f"element {symbol}: parameter names repeat: {', '.join(names)}")
    k = len(names)

    def per_param(value, what, default):
        if value is None:
            return (default,) * k
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
            raise ElementError(f"element {symbol}: {what} must be a list with one entry per "
                               f"parameter ({', '.join(names)})")
        if len(value) != k:
            raise ElementError(f"element {symbol}: {len(value)} {what} for {k} parameters "
                               f"({', '.join(names)})")
        return tuple(value)

    units = per_param(units, "units", "")
    if not all(isinstance(u, str) for u in units):
        raise ElementError(f"element {symbol}: units must be strings")
    raw = per_param(bounds, "bounds", (-math.inf, math.inf))
    bnds = []
    for nm, b in zip(names, raw):
        try:
            lo, hi = (float(v) for v in b)
        except (TypeError, ValueError):
            raise ElementError(f"element {symbol}: bounds of {nm} must be a pair (lo, hi) of "
                               f"numbers, got {b!r}") from None
        if not lo < hi:
            raise ElementError(f"element {symbol}: bounds of {nm}: lower {lo} must be < "
                               f"upper {hi}")
        bnds.append((lo, hi))
    bnds = tuple(bnds)
    if defaults is None:
        dflt = tuple(_default_from(lo, hi) for lo, hi in bnds)
    else:
        vals = per_param(defaults, "defaults", None)
        try:
            dflt = tuple(float(v) for v in vals)
        except (TypeError, ValueError):
            raise ElementError(f"element {symbol}: defaults must be numbers, got {vals!r}") from None
        for nm, v, (lo, hi) in zip(names, dflt, bnds):
            if not (math.isfinite(v) and lo <= v <= hi):
                raise ElementError(f"element {symbol}: default of {nm} = {v} is not a finite "
                                   f"value inside its bounds [{lo}, {hi}]")
    if log_scale is None:
        logs = tuple(lo >= 0 and hi == math.inf for lo, hi in bnds)
    else:
        logs = tuple(bool(v) for v in per_param(log_scale, "log_scale flags", None))
        for nm, lg, (lo, _) in zip(names, logs, bnds):
            if lg and lo < 0:
                raise ElementError(f"element {symbol}: {nm} is fitted on a log scale, so its "
                                   f"lower bound must be >= 0 (got {lo})")
    return names, units, bnds, dflt, logs


def _default_from(lo: float, hi: float) -> float:
    if math.isfinite(lo) and math.isfinite(hi):
        return 0.5 * (lo + hi)
    if math.isfinite(lo):
        return lo + max(1.0, abs(lo))
    if math.isfinite(hi):
        return hi - max(1.0, abs(hi))
    return 1.0


def _same_code(f, g) -> bool:
    """Same source definition: equal code objects (names, constants, bytecode) and equal
    closure contents -- a function defined again by running the same code."""
    cf, cg = getattr(f, "__code__", None), getattr(g, "__code__", None)
    if cf is None or cg is None or cf != cg:
        return False
    try:
        a = tuple(c.cell_contents for c in (f.__closure__ or ()))
        b = tuple(c.cell_contents for c in (g.__closure__ or ()))
        return bool(a == b) and f.__defaults__ == g.__defaults__
    except (ValueError, TypeError):      # empty cells, arrays without a plain ==
        return False


def _probe(symbol, kernel_fn, fn, names, defaults) -> None:
    """Trace and evaluate the element at the default parameters on PROBE_FREQ."""
    import jax
    import jax.numpy as jnp

    omega = 2 * np.pi * PROBE_FREQ
    F = omega.size
    p = jnp.asarray(defaults, jnp.float64)
    try:
        raw = jax.eval_shape(fn, jax.ShapeDtypeStruct(p.shape, p.dtype),
                             jax.ShapeDtypeStruct(omega.shape, jnp.float64))
    except Exception as exc:  # noqa: BLE001 - any failure of user code is reported as such
        raise ElementError(f"element {symbol}: JAX cannot trace the function ({type(exc).__name__}: "
                           f"{_first_line(exc)}); write it with jax.numpy") from exc
    if not hasattr(raw, "dtype") or not hasattr(raw, "shape"):
        raise ElementError(f"element {symbol}: the function must return one complex array, "
                           f"got {type(raw).__name__}")
    if raw.shape != (F,):
        raise ElementError(f"element {symbol}: for p of shape ({len(names)},) and omega of "
                           f"shape ({F},) the function returns shape {tuple(raw.shape)}, "
                           f"expected ({F},)")
    if raw.dtype != jnp.complex128:
        raise ElementError(f"element {symbol}: the function returns {raw.dtype}, expected "
                           "complex128 (compute in float64/complex128, e.g. 1j * omega)")
    try:
        Z, dZ = jax.jit(kernel_fn)(tuple(p[k][None] for k in range(len(names))),
                                   jnp.asarray(omega))
    except Exception as exc:  # noqa: BLE001
        raise ElementError(f"element {symbol}: differentiating the function failed "
                           f"({type(exc).__name__}: {_first_line(exc)})") from exc
    Z = np.asarray(Z)
    bad = ~np.isfinite(Z)
    at = ", ".join(f"{n}={v:g}" for n, v in zip(names, defaults))
    if bad.any():
        f0 = PROBE_FREQ[np.argmax(bad)]
        raise ElementError(f"element {symbol}: non-finite impedance {Z[np.argmax(bad)]} at "
                           f"{f0:g} Hz for {at} (probe 1 mHz - 1 MHz at the defaults)")
    for name, d in zip(names, dZ):
        d = np.asarray(d)
        if not np.all(np.isfinite(d)):
            f0 = PROBE_FREQ[np.argmax(~np.isfinite(d))]
            raise ElementError(f"element {symbol}: non-finite derivative dZ/d{name} at "
                               f"{f0:g} Hz for {at}")


def _first_line(exc) -> str:
    s = str(exc).strip()
    return s.splitlines()[0] if s else ""


# -------------------------------------------------------------- the kernel function
def _autodiff(fn: Callable, k: int) -> Callable:
    """``(p_tuple, omega) -> (Z, dZ_tuple)`` for the circuit evaluator, from ``fn``.

    Each parameter arrives as an array broadcastable against omega with a trailing
    frequency axis of length 1 (``(..., 1)``); omega is (F,) or (..., F).  The parameters
    are stacked to (..., k) and ``fn`` is vectorised over the leading axes with
    ``jnp.vectorize(signature="(k),(f)->(f,k),(f)")`` around ``jax.jacfwd`` (one
    forward pass with k tangent columns; the impedance rides along as auxiliary output),
    so a shared grid (F,) is never copied per spectrum.
    """
    import jax
    import jax.numpy as jnp

    def value_and_columns(q, w):
        z = fn(q, w)
        return z, z

    def per_spectrum(q, w):
        return jax.jacfwd(lambda x: value_and_columns(x, w), has_aux=True)(q)

    vec = jnp.vectorize(per_spectrum, signature="(k),(f)->(f,k),(f)")

    def kernel_fn(p, omega):
        cols = []
        for q in p:
            q = jnp.asarray(q, jnp.float64)
            if q.ndim and q.shape[-1] != 1:
                raise ValueError("user elements take one value per spectrum: parameter "
                                 f"arrays must have a trailing axis of length 1, got {q.shape}")
            cols.append(q[..., 0] if q.ndim else q)
        batch = jnp.broadcast_shapes(*(c.shape for c in cols))
        P = jnp.stack([jnp.broadcast_to(c, batch) for c in cols], axis=-1)
        J, Z = vec(P, omega)
        return Z, tuple(J[..., i] for i in range(k))

    kernel_fn.__doc__ = getattr(fn, "__doc__", None)
    kernel_fn.__name__ = getattr(fn, "__name__", "user_element")
    kernel_fn.__wrapped__ = fn
    return kernel_fn


# ---------------------------------------------------------------- --element-module
def load_module(path) -> list[str]:
    """Import the Python file ``path`` (which registers elements with :func:`element`);
    returns the symbols it registered.  Importing the same unchanged file again is a
    no-op.  Errors in the file raise :class:`ElementError` naming it."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ElementError(f"{path}: cannot read element module ({exc.strerror})") from exc
    return load_source(text, str(path.resolve()))


def load_source(text: bytes | str, origin: str) -> list[str]:
    """Execute element-module source ``text`` as a module (``origin``: its file path, for
    messages and tracebacks); returns the symbols it registered (see :func:`load_module`)."""
    if isinstance(text, str):
        text = text.encode()
    digest = hashlib.sha1(origin.encode() + b"\0" + text).hexdigest()[:12]
    stem = re.sub(r"\W", "_", Path(origin).stem)
    name = f"fastfit_user_elements_{stem}_{digest}"
    if name in sys.modules:       # the same file, unchanged, already imported
        return list(getattr(sys.modules[name], "__fastfit_elements__", []))
    before = set(_USER)
    module = types.ModuleType(name)
    module.__file__ = origin
    sys.modules[name] = module
    try:
        exec(compile(text, origin, "exec"), module.__dict__)   # noqa: S102 - the user's own file
    except ElementError as exc:
        del sys.modules[name]
        raise ElementError(f"{origin}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - user code: report where it failed
        del sys.modules[name]
        raise ElementError(f"{origin}: importing the element module failed: "
                           f"{type(exc).__name__}: {_first_line(exc)}") from exc
    new = sorted(set(_USER) - before)
    module.__fastfit_elements__ = new
    return new


# ---------------------------------------------------------------------- tables
def _fmt_bound(v: float) -> str:
    if v == math.inf:
        return "inf"
    if v == -math.inf:
        return "-inf"
    return f"{v:g}"


def _cell(text: str) -> str:
    """Table-cell text: pipes escaped (GFM reads \\| as | in cells and code spans)."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(specs=None) -> str:
    """Markdown table of elements: symbol, name, formula, parameters (unit, bounds,
    default), reference.  ``specs``: iterable of ElementSpec (default: every built-in
    element, then every user element)."""
    if specs is None:
        from fastfit.kernels import ELEMENTS

        specs = [*ELEMENTS.values(), *_USER.values()]
    rows = ["| symbol | element | formula (w = 2 pi f) | parameters: unit, bounds, default | reference |",
            "|---|---|---|---|---|"]
    for s in specs:
        params = []
        for nm, u, (lo, hi), d, lg in zip(s.names, s.units, s.bounds, s.defaults, s.log_scale):
            label = f"`{s.symbol}1_{nm}`" if nm else f"`{s.symbol}1`"
            params.append(f"{label}: {u or '-'}, [{_fmt_bound(lo)}, {_fmt_bound(hi)}], {d:g}"
                          + (" (log)" if lg else ""))
        ref = _cell(s.reference) or "-"
        ref = re.sub(r"doi:(\S+?)([;,]?)(?=\s|$)", r"[doi:\1](https://doi.org/\1)\2", ref)
        doc = f"`{_cell(s.doc)}`" if s.doc else "-"
        rows.append(f"| `{s.symbol}` | {_cell(s.title) or '-'} | {doc} | "
                    f"{'<br>'.join(_cell(x) for x in params)} | {ref} |")
    return "\n".join(rows) + "\n"
