"""The command line of the Figure 6 experiments: ``python -m noisyprop_lib.experiments NAME ...``."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .results import save_results
from .trainability import trainability_grid
from .variance_depth import variance_depth

__all__ = ["main"]

_DESCRIPTION = "The real-data experiments of paper Figure 6, as functions with a scale preset, and a command line."


def main(argv=None) -> int:
    """``python -m noisyprop_lib.experiments NAME --scale {book,full} --device DEV --out FILE``."""
    ap = argparse.ArgumentParser(prog="python -m noisyprop_lib.experiments", description=_DESCRIPTION)
    ap.add_argument("name", choices=["variance_depth", "trainability", "trainability_he"])
    ap.add_argument("--scale", choices=["book", "cpu", "full"], default="book")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default=None, help="folder with the MNIST files (default: NOISYPROP_DATA, then the cache)")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs (trainability)")
    ap.add_argument("--depths", type=int, nargs="+", default=None, help="override the preset's depths (trainability)")
    ap.add_argument("--keep-probs", type=float, nargs="+", default=None,
                    help="override the preset's keep probabilities (trainability)")
    ap.add_argument("--out", required=True, help="result file (.npz or .json), written atomically")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    words = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python", "-m", "noisyprop_lib.experiments"] + words)
    progress = False if args.no_progress else True
    if args.name == "variance_depth":
        res = variance_depth(args.scale, device=args.device, seed=args.seed, data_root=args.data_root, progress=progress)
        res["provenance"]["command"] = command
    else:
        res = trainability_grid(args.scale, init="he" if args.name == "trainability_he" else "critical", device=args.device,
                                seed=args.seed, data_root=args.data_root, epochs=args.epochs, progress=progress,
                                depths=None if args.depths is None else np.asarray(args.depths),
                                keep_probs=None if args.keep_probs is None else np.asarray(args.keep_probs))
        res["provenance"]["command"] = command
    path = save_results(res, args.out)
    print(f"wrote {path} ({res['provenance']['wall_time_s']:.1f} s on {res['provenance']['device_name']})")
    return 0
