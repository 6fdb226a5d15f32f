"""The Figure 6 experiment functions at a tiny scale, results files and the command line (uses the real MNIST test set)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import noisyprop_lib.experiments as E

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DATA = os.environ.get("NOISYPROP_DATA") or (str(SHARED) if (SHARED / "mnist").exists() else None)
needs_mnist = pytest.mark.skipif(DATA is None, reason="the MNIST test set is not on this machine (../shared/data)")


@needs_mnist
def test_variance_depth_tiny_matches_overflow_depth():
    res = E.variance_depth("book", n_images=16, width=200, sigma_w2=np.array([0.3, 1.2, 2.5]), max_depth=150,
                           data_root=DATA, device="cpu", progress=False)
    assert list(res["failure"]) == ["underflow", "", "overflow"]
    assert res["failed_layer"][1] == -1 and np.all(np.isfinite(res["log_q"][1, : res["depth"][1] + 1]))
    # real inputs have q0 = E[x^2] ~ 0.11, not 1: the curve is shifted by ln(q0)/ln(r) layers, and the
    # first of 16 images to cross is a few layers early; both sides agree within 15 layers here
    for i in (0, 2):
        assert abs(res["failed_layer"][i] - res["predicted_depth"][i]) < 15, (res["failed_layer"], res["predicted_depth"])
    assert res["provenance"]["library_version"] and res["provenance"]["wall_time_s"] > 0


@needs_mnist
def test_trainability_tiny_runs_and_records_losses():
    res = E.trainability_grid("book", keep_probs=np.array([0.5, 1.0]), depths=np.array([1, 3]), width=32, n_train=128,
                              n_validation=64, epochs=2, lr=1e-2, batch_size=32, data_root=DATA, device="cpu", progress=False)
    assert res["val_loss"].shape == (2, 2, 2) and np.all(np.isfinite(res["val_loss"]))
    assert res["trained"].shape == (2, 2) and res["trained"].dtype == bool
    assert np.isinf(res["predicted_depth"][1])  # keep 1: no noise, xi_c infinite
    he = E.trainability_grid("book", init="he", keep_probs=np.array([0.5]), depths=np.array([2]), width=16, n_train=64,
                             n_validation=32, epochs=1, batch_size=32, data_root=DATA, device="cpu", progress=False)
    assert np.allclose(he["sigma_w2"], 2.0)


@needs_mnist
def test_adam_ensemble_learns_and_sgd_at_the_papers_rate_barely_moves():
    # the reason the CPU-sized presets use Adam: with the loss averaged over 784 pixels, plain SGD at
    # lr 1e-3 needs the paper's ~10^5 steps; after 100 steps it is still worse than predicting the mean image
    kw = dict(keep_probs=np.array([1.0]), depths=np.array([2]), width=64, n_train=1600, n_validation=256, epochs=4,
              batch_size=64, lr=1e-3, data_root=DATA, device="cpu", progress=False)
    adam = E.trainability_grid("book", optimizer="adam", **kw)
    sgd = E.trainability_grid("book", optimizer="sgd", **kw)
    assert adam["optimizer"] == "adam" and sgd["optimizer"] == "sgd"
    assert np.all(np.diff(adam["val_loss"][0, 0]) < 0) and adam["val_loss"][0, 0, -1] < adam["trivial_loss"]
    assert sgd["val_loss"][0, 0, -1] > 2 * adam["trivial_loss"]


def test_trained_mask_criterion():
    v = np.array([[0.02, 0.05, 0.09], [np.nan, 0.06, 0.1]])
    m = E.trained_mask(v, trivial_loss=0.1)
    # threshold = 0.1 - 0.5 (0.1 - 0.02) = 0.06
    assert m.tolist() == [[True, True, False], [False, True, False]]


def test_results_roundtrip_npz_and_json(tmp_path):
    res = {"experiment": "x", "a": np.arange(3.0), "b": np.array(["", "overflow"]), "n": 3, "provenance": {"device": "cpu", "wall_time_s": 1.0}}
    for name in ("r.npz", "r.json"):
        path = E.save_results(res, tmp_path / name)
        back = E.load_results(path)
        assert back["provenance"] == res["provenance"]
        assert np.allclose(back["a"], res["a"]) and list(back["b"]) == ["", "overflow"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"
    json.loads((tmp_path / "r.json").read_text())


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        E.variance_depth("huge")
    with pytest.raises(ValueError, match="keep_prob"):
        E.variance_depth("book", keep_prob=0.0)
    with pytest.raises(ValueError, match="init"):
        E.trainability_grid("book", init="xavier")
    with pytest.raises(ValueError, match="depths"):
        E.trainability_grid("book", depths=np.array([0, 2]))
    with pytest.raises(ValueError, match="optimizer"):
        E.trainability_grid("book", optimizer="lbfgs")
    with pytest.raises(ValueError, match=r"\.npz or \.json"):
        E.save_results({}, "/tmp/x.csv")
    with pytest.raises(SystemExit):
        E.main(["not_an_experiment", "--out", "x.npz"])


# --- load_stored_results: book/results/ from the checkout, or downloaded (Colab) -------------------


def test_load_stored_results_reads_the_checkout(tmp_path):
    res = {"experiment": "x", "a": np.arange(3.0), "provenance": {"device": "cpu", "wall_time_s": 1.0}}
    E.save_results(res, tmp_path / "book" / "results" / "x.npz")
    back = E.load_stored_results("x.npz", root=tmp_path, cache=tmp_path / "cache")
    assert np.allclose(back["a"], res["a"]) and back["provenance"] == res["provenance"]
    assert not (tmp_path / "cache").exists()          # nothing downloaded, nothing cached


def test_load_stored_results_downloads_into_the_cache(tmp_path, monkeypatch):
    import io
    import urllib.error
    import urllib.request

    import noisyprop_lib

    src = E.save_results({"experiment": "y", "v": [1, 2], "provenance": {"device": "cuda"}}, tmp_path / "src" / "y.json")
    asked = []

    def fake_urlopen(url, timeout=None):
        asked.append(url)
        return io.BytesIO(src.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    cache = tmp_path / "cache"
    back = E.load_stored_results("y.json", root=tmp_path / "no_checkout", cache=cache)
    assert back["v"] == [1, 2]
    assert asked == [f"{noisyprop_lib.REPOSITORY_URL}/raw/main/book/results/y.json"]
    assert sorted(p.name for p in cache.iterdir()) == ["y.json"]      # atomic: no temporary file left

    def offline(url, timeout=None):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert E.load_stored_results("y.json", root=tmp_path / "no_checkout", cache=cache)["v"] == [1, 2]   # from the cache
    with pytest.raises(FileNotFoundError, match=r"z\.json.*downloading .*/raw/main/book/results/z\.json failed"):
        E.load_stored_results("z.json", root=tmp_path / "no_checkout", cache=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["y.json"]
    with pytest.raises(FileNotFoundError):
        E.load_stored_results("y.json", root=tmp_path / "no_checkout", cache=cache, refresh=True)
    assert E.load_stored_results("y.json", root=tmp_path / "no_checkout", cache=cache)["v"] == [1, 2]   # cache intact


def test_load_stored_results_rejects_paths():
    for bad in ("../x.npz", "a/b.npz", "x.csv", "", 3):
        with pytest.raises(ValueError, match="name"):
            E.load_stored_results(bad)


# --- comparing a trained region with 6 xi_c -------------------------------------------------------


def test_trainability_boundary_intervals_and_consistency():
    depths = np.array([2, 6, 10, 14])
    trained = np.array([[True, True, False, True],
                        [False, True, False, True],
                        [False, True, False, True],
                        [False, False, False, True]])
    pred = np.array([3.3, 13.6, 1.5, np.inf])
    b = E.trainability_boundary(depths, [0.3, 0.9, 0.1, 1.0], trained, pred)
    # p=0.3: boundary in [2, 6), meets [1.65, 6.6]; p=0.9: in [10, 14) meets [6.8, 27.2]
    assert np.allclose(b["interval_low"], [2, 10, 0, 14]) and np.allclose(b["interval_high"], [6, 14, 2, np.inf])
    assert b["consistent"].tolist() == [True, True, True, True]
    assert np.isnan(b["largest_trained"][2]) and b["largest_trained"][3] == 14
    # a deep-only success is flagged as not contiguous; a prediction 4x off is inconsistent
    t2 = np.array([[False], [False], [True], [False]])
    b2 = E.trainability_boundary(depths, [0.5], t2, [2.0])
    assert not b2["contiguous"][0] and not b2["consistent"][0]
    # no noise (infinite prediction) is consistent only if the deepest network trained
    assert not E.trainability_boundary(depths, [1.0], trained[:, :1], [np.inf])["consistent"][0]


def test_trainability_boundary_bad_input():
    with pytest.raises(ValueError, match="depths"):
        E.trainability_boundary([6, 2], [0.5], [[True], [False]], [3.0])
    with pytest.raises(ValueError, match="trained"):
        E.trainability_boundary([2, 6], [0.5], [[True, False]], [3.0])
    with pytest.raises(ValueError, match="factor"):
        E.trainability_boundary([2, 6], [0.5], [[True], [False]], [3.0], factor=0.5)
    with pytest.raises(ValueError, match="fraction"):
        E.trained_mask([0.1, 0.2], 0.3, fraction=1.5)


def test_figure6_heatmaps_draw_failures_and_curves():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from noisyprop_lib import plotting

    vd = {"sigma_w2": np.array([0.6, 1.2, 1.8]), "keep_prob": 0.6, "depth": np.array([3, 5, 4]),
          "log_q": np.array([[0, -1, -2, np.nan, np.nan, np.nan], [0, 0, 0, 0, 0, 0], [0, 1, 2, 3, np.nan, np.nan]], float),
          "predicted_depth": np.array([3.0, np.inf, 4.0])}
    fig, ax = plt.subplots()
    plotting.variance_depth_heatmap(ax, vd)
    black = ax.collections[1].get_array()
    assert int((~black.mask).sum()) == 2  # the two failed layers (layer 3 of net 0, layer 4 of net 2), not the unused ones
    tg = {"keep_probs": np.array([0.5, 1.0]), "depths": np.array([2, 6]), "init": "critical", "trivial_loss": 0.07,
          "val_loss": np.array([[[0.05], [0.03]], [[np.nan], [0.04]]]), "trained": np.array([[True, True], [False, True]])}
    fig2, ax2 = plt.subplots()
    plotting.trainability_heatmap(ax2, tg)
    dots = [ln for ln in ax2.lines if ln.get_label() == "trained"][0]
    assert len(dots.get_xdata()) == 3
    with pytest.raises(ValueError, match="loss"):
        plotting.trainability_heatmap(ax2, tg, loss="test")
    plt.close("all")


@needs_mnist
def test_command_line_writes_results_with_the_command_in_the_provenance(tmp_path):
    out = tmp_path / "grid.npz"
    argv = ["trainability", "--scale", "book", "--device", "cpu", "--epochs", "1", "--depths", "1", "3",
            "--keep-probs", "0.5", "1.0", "--data-root", DATA, "--no-progress", "--out", str(out)]
    assert E.main(argv) == 0
    res = E.load_results(out)
    assert res["val_loss"].shape == (2, 2, 1) and list(res["depths"]) == [1, 3]
    assert np.allclose(res["keep_probs"], [0.5, 1.0]) and res["optimizer"] == "adam"
    assert res["provenance"]["command"] == "python -m noisyprop_lib.experiments " + " ".join(argv)


def test_overflow_agreement_on_the_stored_run():
    """Chapter 6's acceptance band: every network off criticality of the stored run scores <= 1."""
    vd = E.load_stored_results("variance_depth_cpu.npz")
    a = E.overflow_agreement(vd)
    assert a["passed"] and a["off"].sum() == len(vd["sigma_w2"]) - 1
    assert np.all(a["score"][a["off"]] <= 1.0)
    tight = E.overflow_agreement(vd, rel_tol=1e-3, abs_tol=1e-3)
    assert not tight["passed"]


def test_train_ensemble_keeps_its_former_private_name():
    from noisyprop_lib.experiments import trainability

    assert trainability._train_ensemble is E.train_ensemble
