"""noisyprop_lib: mean-field theory and simulation of noisy deep networks.

The companion library of the book *Noisy Signal Propagation*. Import it as::

    import noisyprop_lib as npl
    npl.critical_sigma_w2(npl.Dropout(0.6))   # 1.2
    npl.depth_scale(npl.Dropout(0.6))         # 0.96553...

The package is layered, data flowing one way::

    theory  ->  simulation, nn, dln  ->  experiments  ->  book

* :mod:`noisyprop_lib.theory` (numpy/scipy): noise laws, activations, maps, criticality, finite width, NNGP;
* :mod:`noisyprop_lib.simulation` (torch): Monte Carlo of deep noisy networks;
* :mod:`noisyprop_lib.nn` (torch): noisy layers and ``critical_init_`` for PyTorch models;
* :mod:`noisyprop_lib.dln`: diagonal linear networks (Part III of the book);
* :mod:`noisyprop_lib.experiments`: the real-data experiments of Figure 6;
* :mod:`noisyprop_lib.book`: the book's runtime (claims, glue, seeds and threads).

Every public name is available here at the top level. The theory is imported eagerly; everything that
needs torch (or matplotlib) is imported the first time one of its names is used, so
``import noisyprop_lib`` does not import torch.
"""
from __future__ import annotations

import importlib as _importlib

from ._version import __version__
from .theory import *  # noqa: F401,F403  (the theory is the eager core)
from .theory import __all__ as _theory_all

# name -> module that defines it, imported on first use (PEP 562)
_LAZY: dict[str, str] = {
    # simulation (torch)
    **dict.fromkeys(["SimulationResult", "propagate", "propagate_residual", "gradient_norm_ratio", "gaussian_inputs",
                     "correlated_inputs", "resolve_device", "make_generator"], "noisyprop_lib.simulation"),
    # PyTorch integration (noisyprop_lib.nn.Dropout, the torch module, stays in nn: npl.Dropout is the noise law)
    **dict.fromkeys(["critical_init_", "InitReport", "InitRow", "NotAChainError", "NoiseLayer",
                     "ActivationLayer", "NoisyMLP", "NoisyResidualMLP", "layer_moments", "predicted_variances"], "noisyprop_lib.nn"),
    # real data
    **dict.fromkeys(["load_mnist", "load_cifar10", "load_dataset", "train_validation_split"], "noisyprop_lib.data"),
    # experiments
    **dict.fromkeys(["variance_depth", "trainability_grid", "trained_mask", "trainability_boundary"],
                    "noisyprop_lib.experiments"),
    # book runtime
    "book_seed": "noisyprop_lib.book.seeding",
    "REPOSITORY_URL": "noisyprop_lib._project",
}

# submodules reachable as attributes (npl.nn, npl.dln, ...); the flat paths of 0.1.0 are deprecation shims
_SUBMODULES = ("theory", "simulation", "nn", "dln", "experiments", "book", "data", "plotting",
               # deprecated 0.1.0 paths (see noisyprop_lib._shims)
               "activations", "noise", "meanfield", "criticality", "nngp", "symbolic", "simulate", "ensemble",
               "claims", "glue", "seeding")

__all__ = sorted([*_theory_all, *_LAZY, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY, *_SUBMODULES})
