"""The real-data experiments of Figure 6 (variance over depth, trainability), their results and provenance."""
from ._experiments import (
    STORED_RESULTS_DIR,
    TRAINABILITY_SCALES,
    VARIANCE_DEPTH_SCALES,
    load_results,
    load_stored_results,
    main,
    provenance,
    save_results,
    trainability_boundary,
    trainability_grid,
    trained_mask,
    variance_depth,
)
from .ensemble import init_padded_ensemble, padded_forward, train_padded_ensemble

__all__ = ["VARIANCE_DEPTH_SCALES", "TRAINABILITY_SCALES", "variance_depth", "trainability_grid", "trained_mask",
           "trainability_boundary", "save_results", "load_results", "load_stored_results", "provenance", "main",
           "init_padded_ensemble", "padded_forward", "train_padded_ensemble"]
