"""JSON for the dashboard API: numpy arrays as lists, NaN and infinities as ``null``.

``json.dumps`` writes NaN as the bare word ``NaN``, which is not JSON (browsers' and most
parsers refuse it).  Arrays are converted in one ``tolist`` and one ``json.dumps`` each
(fast for 10^5 values), then the non-finite words are replaced by ``null`` inside that
array's text only -- so a string elsewhere that happens to read "NaN" is left alone.
"""
from __future__ import annotations

import json
import math
import re

import numpy as np

__all__ = ["dumps"]

_NONFINITE = re.compile(r"-?Infinity|NaN")


def _array(a: np.ndarray) -> str:
    if a.dtype.kind == "b":
        return json.dumps(a.tolist(), separators=(",", ":"))
    if a.dtype.kind in "iu":
        return json.dumps(a.tolist(), separators=(",", ":"))
    if a.dtype.kind == "c":
        raise TypeError("complex arrays: send real and imaginary parts separately")
    if a.dtype.kind in "SOU":
        return json.dumps([x.decode() if isinstance(x, bytes) else str(x) for x in a.tolist()],
                          separators=(",", ":"))
    text = json.dumps(a.astype(np.float64, copy=False).tolist(), separators=(",", ":"))
    return _NONFINITE.sub("null", text)


def _encode(obj, out: list) -> None:
    if isinstance(obj, np.ndarray):
        out.append(_array(obj))
    elif isinstance(obj, dict):
        out.append("{")
        for i, (k, v) in enumerate(obj.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(k)))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    elif isinstance(obj, (float, np.floating)):
        v = float(obj)
        out.append(json.dumps(v) if math.isfinite(v) else "null")
    elif isinstance(obj, (bool, np.bool_)):
        out.append("true" if obj else "false")
    elif isinstance(obj, (int, np.integer)):
        out.append(str(int(obj)))
    elif obj is None:
        out.append("null")
    else:
        out.append(json.dumps(str(obj)))


def dumps(obj) -> str:
    """Strict JSON text of ``obj`` (dicts, lists, numbers, strings, numpy arrays)."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out)
