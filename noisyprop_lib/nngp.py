"""Deprecated module path: ``noisyprop_lib.nngp`` moved (see :mod:`noisyprop_lib._shims`)."""
from ._shims import deprecated_module

__getattr__, __dir__ = deprecated_module(__name__, ("noisyprop_lib.theory",))
