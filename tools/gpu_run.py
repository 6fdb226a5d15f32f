#!/usr/bin/env python
"""One prepared GPU run: the GPU benchmarks and the paper-scale Figure 6 experiments, piece by piece.

Made for a lent GPU with a short, fixed budget (an H200 for 15 minutes, start-up included, at
most 10 minutes a command): everything runs from one command, every piece writes its result
into ``--out`` as soon as it finishes (so a command cut off at its limit still returns the
finished pieces), and each piece prints its estimated FLOPs and time before it starts. In order
of value:

1. ``env``: device, torch and CUDA versions, and the measured matmul throughput (float32 and
   TF32) on the trainability grid's shapes, from which the later estimates are made.
2. ``bench_simulate``: FLOP/s of the simulation's explicit route against a plain ``torch.bmm``
   of the same shapes (target >= 60 %), and the wall time of the Figures 2-5 data set
   (target < 30 s).
3. ``variance_depth``: Figure 6a at full scale (width 1000, 10,000 MNIST images, 25 weight
   variances, up to 1000 layers), float32 (overflow is the measurement).
4. ``tf32_check``: the trainability grid for two epochs in float32 and in TF32 from the same
   seed; TF32 is used for the long runs only if the validation losses agree (max relative
   difference <= ``TF32_RTOL``), else the long runs use float32.
5. ``trainability``: Figure 6b at full scale at the critical initialisation (width 1000, 10 keep
   probabilities x 10 depths in [2, 40], 8,000/2,000 MNIST test images, plain SGD, lr 1e-3,
   batch 128), all 100 networks in one padded ensemble, for as many of the preset's 200 epochs
   as the budget allows (epochs are cut, never width).
6. ``trainability_he``: the same grid at He's sigma_w2 = 2, if the budget allows.
7. ``bench_trainability``: the batched ensemble against one network at a time (target >= 5x).

Usage (``tools/gpu_run.sh`` wraps it for the device machine)::

    python tools/gpu_run.py --out OUT --data-root DIR --device cuda --budget-s 450
    python tools/gpu_run.py --out /tmp/dry --preset tiny --device cpu     # the CPU dry run (tested)

Exit status: 0 when every piece ran; 1 when a piece failed (the others still ran and were
written); 2 when the MNIST files are missing; 3 when CUDA was asked for and is not usable.
``summary.json`` in ``--out`` holds every measured figure, each piece's status and timings.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

#: largest relative difference of the validation losses, TF32 against float32, for TF32 to be used
TF32_RTOL = 1e-2

PRESETS = {
    "full": {
        "flops": dict(networks=50, width=1000, depth=30, batch=512),
        "figures": dict(),
        "variance_depth": dict(scale="full"),
        "trainability": dict(scale="full"),
        "check_epochs": 2,
        "bench_trainability": dict(depth=40, width=1000, batch_size=128, n_train=64 * 128, repeats=2),
    },
    "tiny": {
        "flops": dict(networks=2, width=64, depth=3, batch=16),
        "figures": dict(width=32, networks=2, depth=3, per_value=4),
        "variance_depth": dict(scale="book", n_images=16, width=32, sigma_w2=np.array([0.5, 1.2, 2.0]), max_depth=40),
        "trainability": dict(scale="book", keep_probs=np.array([0.5, 1.0]), depths=np.array([2, 4]), width=16,
                             n_train=128, n_validation=64, epochs=3, batch_size=32, optimizer="sgd"),
        "check_epochs": 1,
        "bench_trainability": dict(depth=3, width=16, batch_size=16, n_train=64, repeats=1),
    },
}


class Run:
    """Budget, log and summary of one run; every piece's result is written as soon as it exists."""

    def __init__(self, out: Path, budget_s: float, command: str):
        self.out = out
        self.budget_s = budget_s
        self.t0 = time.perf_counter()
        self.summary = {"command": command, "budget_s": budget_s, "pieces": {}}
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def log(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.t0:7.1f} s] {msg}"
        print(line, flush=True)
        with open(self.out / "log.txt", "a") as f:
            f.write(line + "\n")

    def write_summary(self) -> None:
        tmp = self.out / ".summary.json.tmp"
        tmp.write_text(json.dumps(self.summary, indent=1, default=_plain))
        os.replace(tmp, self.out / "summary.json")

    def piece(self, name: str, estimate_s: float, flops: float | None, fn):
        est = f"estimated {estimate_s:.0f} s" + (f", {flops:.2e} FLOP" if flops else "")
        self.log(f"{name}: start ({est}; {self.left():.0f} s of budget left)")
        t = time.perf_counter()
        entry = {"estimate_s": estimate_s, "flops": flops}
        try:
            entry["result"] = fn()
            entry["status"] = "ok"
        except Exception as exc:  # recorded and reported; the other pieces still run
            entry["status"] = "failed"
            entry["error"] = f"{type(exc).__name__}: {exc}"
            self.log(f"{name}: FAILED: {entry['error']}\n{traceback.format_exc()}")
        entry["wall_s"] = time.perf_counter() - t
        self.summary["pieces"][name] = entry
        self.write_summary()
        self.log(f"{name}: {entry['status']} in {entry['wall_s']:.1f} s")
        return entry


def _plain(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def matmul_rates(device, k: int, width: int, batch: int) -> dict:
    """Measured TFLOP/s of ``bmm`` on (k, batch, width) x (k, width, width) in float32 and TF32."""
    import torch

    a = torch.randn(k, batch, width, device=device)
    w = torch.randn(k, width, width, device=device)
    flops = 2 * k * batch * width * width
    rates = {}
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, tf32 in (("float32", False), ("tf32", True)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.bmm(a, w)
            _sync(device)
            reps, t = 0, time.perf_counter()
            while reps < 3 or time.perf_counter() - t < 0.3:
                torch.bmm(a, w)
                reps += 1
                if reps >= 200:
                    break
            _sync(device)
            rates[name] = flops * reps / (time.perf_counter() - t) / 1e12
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    return rates


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def trainability_flops(params: dict, epochs: int) -> float:
    """FLOPs of training the padded grid: 6 x batch x parameters per step (forward and backward)."""
    from noisyprop_lib.experiments import TRAINABILITY_SCALES

    p = dict(TRAINABILITY_SCALES[params["scale"]])
    p.update({k: v for k, v in params.items() if k != "scale"})
    n_nets = len(p["keep_probs"]) * len(p["depths"])
    width, depth, d_in = p["width"], int(np.max(p["depths"])), 784
    per_net = 2 * d_in * width + (depth - 1) * width * width
    steps = (p["n_train"] // p["batch_size"]) * epochs
    return 6.0 * p["batch_size"] * per_net * n_nets * steps


def variance_depth_flops(params: dict) -> float:
    from noisyprop_lib import Dropout, overflow_depth
    from noisyprop_lib.experiments import VARIANCE_DEPTH_SCALES

    p = dict(VARIANCE_DEPTH_SCALES[params["scale"]])
    p.update({k: v for k, v in params.items() if k != "scale"})
    pred = np.asarray(overflow_depth(np.asarray(p["sigma_w2"], float), Dropout(0.6), q0=1.0, dtype="float32"), float)
    depths = np.minimum(p["max_depth"], np.floor(1.1 * np.where(np.isfinite(pred), pred, np.inf)))
    return float(np.sum(depths) * 2 * p["width"] ** 2 * p["n_images"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="folder for the results (the device machine's $OUT)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--data-root", default=None, help="folder holding mnist/ (default: NOISYPROP_DATA)")
    ap.add_argument("--budget-s", type=float, default=450.0, help="compute budget of the whole run in seconds")
    ap.add_argument("--max-epochs", type=int, default=None, help="cap on the trainability epochs (default: the preset's)")
    ap.add_argument("--skip", nargs="*", default=[], help="pieces to skip")
    args = ap.parse_args(argv)
    command = " ".join(["python", "tools/gpu_run.py"] + list(sys.argv[1:] if argv is None else argv))
    run = Run(args.out, args.budget_s, command)
    preset = PRESETS[args.preset]

    import torch

    import noisyprop_lib as npl
    from noisyprop_lib import experiments as ex

    if args.device.startswith("cuda"):
        try:
            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            torch.zeros(1, device=args.device).sum().item()
        except Exception as exc:
            run.log(f"ERROR: CUDA was asked for (--device {args.device}) but is not usable: {exc}")
            return 3
    device = torch.device(args.device)
    try:
        npl.load_mnist("test", root=args.data_root, download=False)
    except Exception as exc:
        run.log(f"ERROR: the MNIST test set is needed and could not be loaded: {exc}")
        return 2
    run.log(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), torch "
            f"{torch.__version__}, CUDA {torch.version.cuda}, preset {args.preset}, budget {args.budget_s:.0f} s")
    failed = []

    tp = dict(preset["trainability"])
    from noisyprop_lib.experiments import TRAINABILITY_SCALES

    grid = dict(TRAINABILITY_SCALES[tp["scale"]])
    grid.update({k: v for k, v in tp.items() if k != "scale"})
    k_nets = len(grid["keep_probs"]) * len(grid["depths"])

    env = run.piece("env", 2.0, None, lambda: {
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "torch_version": torch.__version__, "cuda_version": torch.version.cuda or "none",
        "library_version": npl.__version__, "git_commit": ex.git_commit(),
        "matmul_tflops": matmul_rates(device, k_nets, grid["width"], grid["batch_size"])})
    rates = env.get("result", {}).get("matmul_tflops", {"float32": 1.0, "tf32": 1.0})
    run.log(f"measured bmm throughput on the grid's shapes: {rates}")

    # 2. the simulation benchmarks
    import bench_simulate

    if "bench_simulate" not in args.skip:
        f = preset["flops"]
        fl = f["networks"] * f["depth"] * 2 * f["width"] ** 2 * f["batch"]
        e = run.piece("bench_simulate", 2 * fl / (rates["float32"] * 1e12) + 30.0, fl, lambda: {
            "flops": bench_simulate.gpu_flops(device, **preset["flops"]),
            "figures_2_to_5_s": bench_simulate.figures_2_to_5_workload(device, **preset["figures"]),
            "targets": {"flops_ratio": ">= 0.6", "figures_2_to_5_s": "< 30"}})
        failed += [] if e["status"] == "ok" else ["bench_simulate"]

    # 3. Figure 6a
    if "variance_depth" not in args.skip:
        vp = dict(preset["variance_depth"])
        fl = variance_depth_flops(vp)

        def variance_depth():
            res = ex.variance_depth(device=device, progress=False, data_root=args.data_root, **vp)
            res["provenance"]["command"] = command
            name = f"variance_depth_{args.preset}_gpu.npz" if device.type == "cuda" else f"variance_depth_{args.preset}_dry.npz"
            ex.save_results(res, args.out / name)
            return {"file": name, "failed_layer": res["failed_layer"], "predicted_depth": res["predicted_depth"],
                    "sigma_w2": res["sigma_w2"], "wall_s": res["provenance"]["wall_time_s"]}

        e = run.piece("variance_depth", fl / (rates["float32"] * 1e12) * 1.5 + 5, fl, variance_depth)
        failed += [] if e["status"] == "ok" else ["variance_depth"]

    # 4. TF32 against float32 on a short run, which also times an epoch
    common = dict(init="critical", device=device, data_root=args.data_root, progress=False, batch_depths=True, **tp)
    precision, t_epoch = "highest", None
    if "trainability" not in args.skip:
        ce = preset["check_epochs"]
        fl = trainability_flops(tp, ce)

        def tf32_check():
            out = {}
            for prec in ("highest", "tf32"):
                t = time.perf_counter()
                r = ex.trainability_grid(**{**common, "epochs": ce}, matmul_precision=prec)
                _sync(device)
                out[prec] = {"val_loss": r["val_loss"][:, :, -1], "wall_s": time.perf_counter() - t}
            a, b = out["highest"]["val_loss"], out["tf32"]["val_loss"]
            with np.errstate(invalid="ignore"):
                rel = np.nanmax(np.abs(b - a) / np.abs(a))
            same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
            out["max_relative_difference"] = float(rel)
            out["tolerance"] = TF32_RTOL
            out["tf32_used"] = bool(rel <= TF32_RTOL and same_nan and device.type == "cuda")
            return out

        e = run.piece("tf32_check", fl / (rates["float32"] * 1e12) * 1.5 + fl / (rates["tf32"] * 1e12) * 1.5 + 10, fl, tf32_check)
        if e["status"] == "ok":
            precision = "tf32" if e["result"]["tf32_used"] else "highest"
            t_epoch = e["result"][precision]["wall_s"] / ce
        else:
            failed.append("tf32_check")
        run.log(f"long runs use matmul precision {precision!r}; measured {t_epoch} s per epoch of the grid")

    def fit_epochs(reserve_s: float) -> int:
        wanted = int(grid["epochs"] if args.max_epochs is None else min(args.max_epochs, grid["epochs"]))
        if t_epoch is None:
            return 0
        return max(0, min(wanted, int((run.left() - reserve_s) / (t_epoch * 1.1))))

    def trainability_piece(name: str, init: str, reserve_s: float):
        epochs = fit_epochs(reserve_s)
        if epochs < 1:
            run.log(f"{name}: skipped, no budget left for one epoch")
            run.summary["pieces"][name] = {"status": "skipped", "reason": "budget"}
            run.write_summary()
            return
        fl = trainability_flops(tp, epochs)

        def train():
            res = ex.trainability_grid(**{**common, "init": init, "epochs": epochs}, matmul_precision=precision)
            res["provenance"]["command"] = command
            fname = f"{name}_{args.preset}_gpu.npz" if device.type == "cuda" else f"{name}_{args.preset}_dry.npz"
            ex.save_results(res, args.out / fname)
            return {"file": fname, "epochs": epochs, "steps": epochs * (res["n_train"] // res["batch_size"]),
                    "matmul_precision": precision, "trained": res["trained"], "wall_s": res["provenance"]["wall_time_s"]}

        e = run.piece(name, epochs * t_epoch, fl, train)
        if e["status"] != "ok":
            failed.append(name)

    # 5-6. Figure 6b at the critical initialisation, then at He's; reserve time for the last benchmark
    if "trainability" not in args.skip:
        trainability_piece("trainability", "critical", reserve_s=max(40.0, 0.1 * args.budget_s))
    if "trainability_he" not in args.skip and "trainability" not in args.skip:
        trainability_piece("trainability_he", "he", reserve_s=30.0 if device.type == "cuda" else 0.0)

    # 7. batched against one at a time
    import bench_trainability

    if "bench_trainability" not in args.skip:
        e = run.piece("bench_trainability", 20.0, None, lambda: {
            **bench_trainability.measure(device, data_root=args.data_root, **preset["bench_trainability"]), "target": ">= 5"})
        failed += [] if e["status"] == "ok" else ["bench_trainability"]

    run.summary["failed"] = failed
    run.summary["wall_s"] = time.perf_counter() - run.t0
    run.write_summary()
    run.log(f"done in {run.summary['wall_s']:.0f} s; failed pieces: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
