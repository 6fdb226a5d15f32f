r"""The real-data experiments of paper Figure 6, as functions with a scale preset, and a command line.

* :func:`variance_depth` (Figure 6a): MNIST images pushed through a dropout
  network (keep probability 0.6) at a grid of weight variances; per layer the
  log mean squared pre-activation, and the layer where float32 overflowed or
  underflowed, against :func:`noisyprop_lib.overflow_depth`.
* :func:`trainability_grid` (Figure 6b,c): critically initialised dropout
  networks trained to reconstruct their input (MSE, plain SGD) over a grid of
  keep probabilities and depths; all networks of one depth are trained at once
  as a batched ensemble (one ``bmm`` per layer for all keep probabilities).

``scale="book"`` runs on a laptop CPU in well under two minutes; ``scale="full"``
is the paper's scale, for a GPU. Results are plain dicts of numpy arrays plus a
``provenance`` dict (command, git commit, library version, device, date, wall
time); :func:`save_results` writes them atomically as ``.npz`` or ``.json``.

Command line::

    python -m noisyprop_lib.experiments variance_depth --scale full --device cuda --out book/results/variance_depth_full.npz
    python -m noisyprop_lib.experiments trainability --scale full --device cuda --out book/results/trainability_full.npz

Modules: ``results`` (presets, provenance, result files, stored runs), ``variance_depth`` (Figure 6a),
``trainability`` (Figure 6b,c), ``ensemble`` (padded ensembles of MLPs), ``classifier`` (short training runs
of any classifier, :func:`train_classifier`) and ``cli`` (the command line).
"""
from .cli import main
from .ensemble import init_padded_ensemble, padded_forward, train_padded_ensemble
from .results import (
    STORED_RESULTS_DIR,
    TRAINABILITY_SCALES,
    VARIANCE_DEPTH_SCALES,
    git_commit,
    load_results,
    load_stored_results,
    provenance,
    save_results,
)
from .classifier import train_classifier
from .trainability import train_ensemble, trainability_boundary, trainability_grid, trained_mask
from .variance_depth import overflow_agreement, variance_depth

__all__ = ["VARIANCE_DEPTH_SCALES", "TRAINABILITY_SCALES", "variance_depth", "overflow_agreement", "trainability_grid",
           "trained_mask", "trainability_boundary", "train_ensemble", "save_results", "load_results",
           "load_stored_results", "provenance", "git_commit", "main", "init_padded_ensemble", "padded_forward", "train_padded_ensemble",
           "train_classifier"]
