"""The prepared GPU run (tools/gpu_run.sh, tools/gpu_run.py): its CPU dry run, its loud failures, and the
padded all-depths ensemble it trains the Figure 6b grid with."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import noisyprop_lib.experiments as E
from noisyprop_lib.experiments import init_padded_ensemble, padded_forward, train_padded_ensemble

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
DATA = os.environ.get("NOISYPROP_DATA") or (str(SHARED) if (SHARED / "mnist").exists() else None)
needs_mnist = pytest.mark.skipif(DATA is None, reason="the MNIST test set is not on this machine (../shared/data)")


def _run(args, env_extra=None):
    env = {**os.environ, "PYTHON": sys.executable, **(env_extra or {})}
    return subprocess.run(["bash", str(ROOT / "tools" / "gpu_run.sh"), *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)


@needs_mnist
def test_cpu_dry_run_writes_every_piece_with_provenance(tmp_path):
    out = tmp_path / "out"
    proc = _run(["--preset", "tiny"], {"OUT": str(out), "DEVICE": "cpu", "NOISYPROP_DATA": DATA})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == []
    pieces = summary["pieces"]
    assert [k for k in pieces] == ["env", "bench_simulate", "variance_depth", "tf32_check", "trainability",
                                   "trainability_he", "bench_trainability"]
    assert all(p["status"] == "ok" for p in pieces.values()), pieces
    assert pieces["bench_simulate"]["result"]["flops"]["ratio"] > 0
    assert pieces["tf32_check"]["result"]["tf32_used"] is False  # TF32 is a CUDA feature
    for name in ("variance_depth_tiny_dry.npz", "trainability_tiny_dry.npz", "trainability_he_tiny_dry.npz"):
        res = E.load_results(out / name)
        prov = res["provenance"]
        assert prov["command"].startswith("python tools/gpu_run.py") and "--preset tiny" in prov["command"]
        assert prov["device"] == "cpu" and prov["torch_version"] and prov["cuda_version"] and prov["wall_time_s"] > 0
    tr = E.load_results(out / "trainability_tiny_dry.npz")
    assert tr["batch_depths"] is True or tr["batch_depths"] == 1
    assert tr["val_loss"].shape == (2, 2, 3) and np.all(np.isfinite(tr["val_loss"]))
    assert "estimated" in (out / "log.txt").read_text()  # every piece printed its estimate before it started


def test_missing_data_folder_fails_loudly(tmp_path):
    proc = _run(["--preset", "tiny"], {"OUT": str(tmp_path / "out"), "DEVICE": "cpu", "NOISYPROP_DATA": str(tmp_path / "nowhere")})
    assert proc.returncode == 2
    assert "MNIST test files are not in" in proc.stderr and "nowhere" in proc.stderr


@needs_mnist
def test_missing_data_fails_loudly_in_python_too(tmp_path):
    empty = tmp_path / "empty"
    (empty / "mnist").mkdir(parents=True)
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_run.py"), "--out", str(tmp_path / "o"), "--preset", "tiny",
                           "--device", "cpu", "--data-root", str(empty)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NOISYPROP_DATA": str(empty), "NOISYPROP_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "MNIST test set is needed" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_asked_for_without_cuda_fails_loudly(tmp_path):
    proc = _run(["--preset", "tiny"], {"OUT": str(tmp_path / "out"), "DEVICE": "cuda", "NOISYPROP_DATA": DATA or str(tmp_path)})
    if DATA is None:
        assert proc.returncode == 2
    else:
        assert proc.returncode == 3 and "CUDA was asked for" in proc.stdout


def _data(n=96, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.random((32, d)).astype(np.float32)


def _reference_train_ensemble(xtr, xva, keep_probs, sigma_w2, depth, width, epochs, lr, batch_size, dtype, seed,
                              optimizer="sgd"):
    """The per-depth ensemble trainer of release 0.1.0, kept here as an independent reference: one stacked
    network per keep probability, all of one depth, trained with its own dropout masks (same RNG order)."""
    k, d = len(keep_probs), xtr.shape[1]
    g = torch.Generator().manual_seed(int(seed))
    dims = [d] + [width] * depth + [d]
    sw = torch.as_tensor(np.asarray(sigma_w2, dtype=float), dtype=dtype)
    weights = [(torch.randn((k, o, i), generator=g, dtype=dtype) * torch.sqrt(sw / i)[:, None, None]).requires_grad_()
               for i, o in zip(dims[:-1], dims[1:])]
    biases = [torch.zeros((k, 1, o), dtype=dtype, requires_grad=True) for o in dims[1:]]
    keep = torch.as_tensor(np.asarray(keep_probs, dtype=float), dtype=dtype)[:, None, None]
    params = weights + biases
    adam = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else None
    xtr_t, xva_t = torch.as_tensor(xtr, dtype=dtype), torch.as_tensor(xva, dtype=dtype)

    def forward(x, train):
        h = x.unsqueeze(0).expand(k, -1, -1)
        for w, b in zip(weights, biases):
            a = torch.relu(h)
            if train:
                a = a * (torch.rand(a.shape, generator=g, dtype=dtype) < keep) / keep
            h = torch.baddbmm(b, a, w.transpose(1, 2))
        return h

    train_loss, val_loss = np.full((k, epochs), np.nan), np.full((k, epochs), np.nan)
    for epoch in range(epochs):
        perm = torch.randperm(len(xtr_t), generator=g)
        acc, steps = torch.zeros(k, dtype=torch.float64), 0
        for s in range(0, len(xtr_t) - batch_size + 1, batch_size):
            xb = xtr_t[perm[s : s + batch_size]]
            per_net = ((forward(xb, True) - xb.unsqueeze(0)) ** 2).mean(dim=(1, 2))
            for prm in params:
                prm.grad = None
            finite = torch.isfinite(per_net)
            torch.where(finite, per_net, torch.zeros_like(per_net)).sum().backward()
            with torch.no_grad():
                for prm in params:
                    torch.nan_to_num(prm.grad, nan=0.0, posinf=0.0, neginf=0.0, out=prm.grad)
                    if adam is None:
                        prm -= lr * prm.grad
            if adam is not None:
                adam.step()
            acc += torch.where(finite, per_net.detach().to(torch.float64), torch.full_like(acc, float("nan")))
            steps += 1
        train_loss[:, epoch] = (acc / max(steps, 1)).numpy()
        with torch.no_grad():
            tot = torch.zeros(k, dtype=torch.float64)
            for s in range(0, len(xva_t), 1024):
                xb = xva_t[s : s + 1024]
                tot += ((forward(xb, False) - xb.unsqueeze(0)) ** 2).to(torch.float64).sum(dim=(1, 2))
            val_loss[:, epoch] = (tot / (len(xva_t) * d)).numpy()
    return train_loss, val_loss


@pytest.mark.parametrize("optimizer,dtype", [("sgd", torch.float32), ("adam", torch.float64)])
def test_train_ensemble_equals_the_0_1_0_per_depth_trainer(optimizer, dtype):
    """train_ensemble now delegates to the padded ensemble; it must still give the old trainer's numbers bit for bit."""
    xtr, xva = _data()
    keep = np.array([0.5, 0.8, 1.0])
    a = E.train_ensemble(xtr, xva, keep, 2 * keep, 3, 16, 2, 1e-2, 16, torch.device("cpu"), dtype, 7,
                         optimizer=optimizer)
    ref = _reference_train_ensemble(xtr, xva, keep, 2 * keep, 3, 16, 2, 1e-2, 16, dtype, 7, optimizer=optimizer)
    np.testing.assert_array_equal(a[0], ref[0])
    np.testing.assert_array_equal(a[1], ref[1])
    assert np.isfinite(a[0]).all() and not np.array_equal(a[0][0], a[0][2])  # trained, and the nets differ


def test_padded_ensemble_of_one_depth_equals_the_0_1_0_trainer():
    """With every network of the same depth, the padded ensemble is the old per-depth trainer, bit for bit
    (networks of different depths draw their masks from one stream, so they cannot be compared this way;
    test_padded_forward_and_gradients_are_each_networks_own checks those)."""
    xtr, xva = _data()
    keep = np.array([0.5, 0.8, 1.0])
    b = train_padded_ensemble(xtr, xva, keep, 2 * keep, np.array([3, 3, 3]), 16, 2, 1e-2, 16, torch.device("cpu"),
                              torch.float32, 7)
    ref = _reference_train_ensemble(xtr, xva, keep, 2 * keep, 3, 16, 2, 1e-2, 16, torch.float32, 7)
    np.testing.assert_array_equal(b[0], ref[0])
    np.testing.assert_array_equal(b[1], ref[1])


def _chain_forward(ws, bs, x):
    h = x
    for w, b in zip(ws, bs):
        h = torch.relu(h) @ w.T + b[0]
    return h


def test_padded_forward_and_gradients_are_each_networks_own():
    torch.manual_seed(0)
    depths = np.array([1, 3, 2])
    g = torch.Generator().manual_seed(3)
    ws, bs = init_padded_ensemble(depths, np.array([1.0, 2.0, 1.5]), 5, 7, generator=g, dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    out = padded_forward(ws, bs, x, depths, 1.0, train=False)
    (out ** 2).sum().backward()
    for k, d in enumerate(depths):
        used = [0, *range(1, d), len(ws) - 1]
        wk = [ws[i][k].detach().clone().requires_grad_() for i in used]
        bk = [bs[i][k].detach().clone().requires_grad_() for i in used]
        ref = _chain_forward(wk, bk, x)
        torch.testing.assert_close(out[k], ref)
        (ref ** 2).sum().backward()
        for i, w in zip(used, wk):
            torch.testing.assert_close(ws[i].grad[k], w.grad)
        for i in set(range(len(ws))) - set(used):  # layers a shallow network skips get no gradient
            assert torch.count_nonzero(ws[i].grad[k]) == 0 and torch.count_nonzero(bs[i].grad[k]) == 0


def test_padded_ensemble_bad_input():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="depths"):
        init_padded_ensemble(np.array([0, 2]), 1.0, 4, 4, generator=g)
    with pytest.raises(ValueError, match="sigma_w2"):
        init_padded_ensemble(np.array([1, 2]), np.array([1.0, 2.0, 3.0]), 4, 4, generator=g)
    with pytest.raises(ValueError, match="sigma_w2 must be > 0"):
        init_padded_ensemble(np.array([1, 2]), np.array([1.0, -2.0]), 4, 4, generator=g)
    with pytest.raises(ValueError, match="matmul_precision"):
        E.trainability_grid("book", matmul_precision="bf16", data_root=DATA or ".", device="cpu")
