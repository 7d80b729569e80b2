"""Which candidate circuits are nested in which: decided on the parsed circuit trees.

Circuit A is *nested* in circuit B when A's string is B's with some elements removed
(elements are matched by name, e.g. ``CPE2``): removing an element from a series drops it
(its impedance -> 0, e.g. R -> 0), removing it from a parallel block drops that branch
(impedance -> infinity, e.g. a capacitance -> 0), a parallel block left with one branch
is that branch, and an empty branch or block disappears.  Series terms and parallel
branches are compared in any order (``R0-p(R1,CPE1)`` equals ``p(CPE1,R1)-R0``).  So

    R0-p(R1,CPE1)  is nested in  R0-p(R1,CPE1)-p(R2,CPE2)  and in  R0-p(R1,CPE1)-Wo1,

but ``R0-p(R1,C1)`` is not nested in ``R0-p(R1,CPE1)`` (different elements, although a
CPE with n = 1 is a capacitor): pass such pairs explicitly to :func:`fastfit.compare`.
"""
from __future__ import annotations

from ..circuit import Circuit

__all__ = ["is_nested", "nested_pairs"]


def _named(circuit: Circuit):
    """The circuit's tree with element names at the leaves: ("E", name) | ("S"|"P", kids)."""
    names = iter(circuit.elements)        # leaves in string order

    def walk(node):
        if node[0] == "E":
            return ("E", next(names))
        return (node[0], tuple(walk(k) for k in node[1]))

    return walk(circuit.tree)


def _remove(node, gone: frozenset):
    """``node`` with the elements ``gone`` removed (None when nothing is left)."""
    if node[0] == "E":
        return None if node[1] in gone else node
    kids = [k for k in (_remove(k, gone) for k in node[1]) if k is not None]
    if not kids:
        return None
    return kids[0] if len(kids) == 1 else (node[0], tuple(kids))


def _parts(node, kind: str) -> list[str]:
    """Canonical texts of the terms of ``node`` seen as a ``kind`` connection (a nested
    connection of the same kind is flattened into its parent)."""
    if node[0] == kind:
        return [p for k in node[1] for p in _parts(k, kind)]
    return [_canonical(node)]


def _canonical(node) -> str:
    """Order-free text of a tree: nested series/parallel flattened, terms sorted."""
    if node[0] == "E":
        return node[1]
    return f"{node[0]}[{'|'.join(sorted(_parts(node, node[0])))}]"


def is_nested(small, big) -> bool:
    """True when circuit ``small`` is ``big`` with one or more elements removed (see the
    module docstring); both may be strings or :class:`~fastfit.Circuit`."""
    a = small if isinstance(small, Circuit) else Circuit(small)
    b = big if isinstance(big, Circuit) else Circuit(big)
    ea, eb = set(a.elements), set(b.elements)
    if not ea < eb:
        return False
    reduced = _remove(_named(b), frozenset(eb - ea))
    return reduced is not None and _canonical(reduced) == _canonical(_named(a))


def nested_pairs(circuits) -> list[tuple[int, int]]:
    """Every (i, j) with circuit i nested in circuit j (:func:`is_nested`), sorted."""
    cs = [c if isinstance(c, Circuit) else Circuit(c) for c in circuits]
    return [(i, j) for i in range(len(cs)) for j in range(len(cs))
            if i != j and is_nested(cs[i], cs[j])]
