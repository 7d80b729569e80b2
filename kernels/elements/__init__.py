"""Element library: registry of :class:`ElementSpec` records keyed by symbol."""
from ._spec import ElementSpec
from . import _basic, _diffusion, _porous, _relaxation

ELEMENTS = {s.symbol: s for s in (*_basic.SPECS, *_diffusion.SPECS, *_relaxation.SPECS,
                                  *_porous.SPECS)}

__all__ = ["ElementSpec", "ELEMENTS"]
