"""One figure style for the book, and the plots it draws again and again.

Colours are the Okabe–Ito palette, distinguishable under the common forms of
colour-vision deficiency; the sequential colour map is ``cividis`` for the
same reason.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PALETTE", "SEQUENTIAL_CMAP", "use_book_style", "theory_vs_simulation", "variance_depth_heatmap",
           "trainability_heatmap"]

#: Okabe–Ito colours, in the order the book uses them
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
#: perceptually uniform, colour-blind-safe sequential map
SEQUENTIAL_CMAP = "cividis"


def use_book_style() -> None:
    """Set matplotlib's defaults to the book's style (sizes, palette, grid)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.8),
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "font.size": 10,
            "axes.titlesize": 10,
            "axes.labelsize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.frameon": False,
            "legend.fontsize": 9,
            "lines.linewidth": 1.6,
            "axes.prop_cycle": cycler(color=PALETTE),
            "image.cmap": SEQUENTIAL_CMAP,
        }
    )


def theory_vs_simulation(ax, x, theory, sim_mean, sim_spread=None, *, color=None, label=None, marker="o"):
    """Draw a theory curve (line) with simulation means (markers) and a +-spread band.

    Only the line gets a legend entry (``label``), so a figure with several
    settings has one entry per setting; say in the caption that lines are
    theory and markers simulation.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x : array
        Abscissae shared by theory and simulation.
    theory, sim_mean : array
        Theory values and simulated means at ``x``.
    sim_spread : array, optional
        Half-width of the band around ``sim_mean`` (e.g. one standard deviation across networks).
    """
    x = np.asarray(x)
    (line,) = ax.plot(x, theory, color=color, label=label if label else "theory")
    col = line.get_color()
    # one legend entry per setting: the line stands for theory and simulation together
    ax.plot(x, sim_mean, linestyle="none", marker=marker, markersize=4, color=col, label="_nolegend_")
    if sim_spread is not None:
        ax.fill_between(x, np.asarray(sim_mean) - sim_spread, np.asarray(sim_mean) + sim_spread, color=col, alpha=0.2, linewidth=0)
    return line


def variance_depth_heatmap(ax, result: dict, *, vlim: float | None = None, curve: bool = True, cbar: bool = True):
    r"""Paper Figure 6(a): :math:`\ln q^l` over (weight variance, layer), failed layers in black.

    ``result`` is a :func:`noisyprop_lib.experiments.variance_depth` result. Layers after a
    float overflow or underflow (NaN in ``log_q``) are drawn black, layers beyond a network's
    depth white. With ``curve`` the predicted failure depth
    :math:`L^*(\sigma_w^2)` (``predicted_depth``, for :math:`q^0 = 1`) is drawn in orange and the
    critical :math:`\sigma_w^2 = 2p` as a dashed line.
    """
    import matplotlib
    import matplotlib.colors as mcolors

    sw = np.asarray(result["sigma_w2"], dtype=float)
    log_q = np.array(result["log_q"], dtype=float)
    depth = np.asarray(result["depth"])
    layers = np.arange(log_q.shape[1])
    beyond = layers[None, :] > depth[:, None]
    failed = np.isnan(log_q) & ~beyond
    lim = float(np.nanmax(np.abs(log_q))) if vlim is None else float(vlim)
    # diverging: blue for a shrinking signal, red for a growing one, white where a network had no layer
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    step = sw[1] - sw[0] if len(sw) > 1 else 0.1
    edges = np.concatenate([sw - step / 2, [sw[-1] + step / 2]])
    img = ax.pcolormesh(edges, np.arange(log_q.shape[1] + 1) - 0.5, np.ma.masked_invalid(log_q.T), cmap=cmap,
                        vmin=-lim, vmax=lim, shading="flat", rasterized=True)
    black = np.where(failed, 1.0, np.nan)
    ax.pcolormesh(edges, np.arange(log_q.shape[1] + 1) - 0.5, np.ma.masked_invalid(black.T),
                  cmap=mcolors.ListedColormap(["black"]), shading="flat", rasterized=True)
    if curve:
        from .theory import overflow_depth
        from .theory.noise import Dropout

        fine = np.linspace(sw.min(), sw.max(), 400)
        ax.plot(fine, overflow_depth(fine, Dropout(float(result["keep_prob"])), q0=1.0), color=PALETTE[4], lw=2,
                label=r"predicted failure depth $L^*$")
        ax.axvline(2 * float(result["keep_prob"]), color="0.3", ls="--", lw=1, label=r"critical $\sigma_w^2 = 2p$")
    ax.set_ylim(-0.5, log_q.shape[1] - 0.5)
    ax.set_xlabel(r"$\sigma_w^2$")
    ax.set_ylabel("layer $l$")
    ax.grid(False)
    if cbar:
        ax.figure.colorbar(img, ax=ax, label=r"$\ln q^l$ (black: overflow/underflow)")
    return img


def trainability_heatmap(ax, result: dict, *, loss: str = "val", vmin=None, vmax=None, curve: bool = True,
                         mark_trained: bool = True, cbar: bool = True):
    r"""Paper Figure 6(b,c): final loss over (:math:`\sigma_w^2 = 2p`, depth) with the :math:`6\xi_c` curve.

    ``result`` is a :func:`noisyprop_lib.experiments.trainability_grid` result; ``loss`` is
    ``"val"`` or ``"train"``. Cells that trained by ``result["trained"]`` get a white dot; diverged
    runs (NaN) are drawn black. The x-axis is :math:`2p` (the critical :math:`\sigma_w^2`);
    ``curve`` draws the prediction :math:`6\xi_c(p)` of critically initialised networks
    (leave it off for a He grid). The colour scale tops out at the trivial predictor's loss.
    """
    import matplotlib

    if loss not in ("val", "train"):
        raise ValueError(f"loss must be 'val' or 'train', got {loss!r}")
    kp = np.asarray(result["keep_probs"], dtype=float)
    ds = np.asarray(result["depths"], dtype=float)
    final = np.asarray(result[f"{loss}_loss"], dtype=float)[:, :, -1]
    x = 2 * kp
    def _edges(v):
        mid = (v[1:] + v[:-1]) / 2
        return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    cmap = matplotlib.colormaps[SEQUENTIAL_CMAP].with_extremes(bad="black")
    vmax = float(result["trivial_loss"]) if vmax is None else vmax
    img = ax.pcolormesh(_edges(x), _edges(ds), np.ma.masked_invalid(final), cmap=cmap, vmin=vmin, vmax=vmax,
                        shading="flat", rasterized=True)
    if mark_trained and loss == "val":
        tr = np.asarray(result["trained"], dtype=bool)
        yy, xx = np.nonzero(tr)
        ax.plot(x[xx], ds[yy], "o", color="white", ms=3.5, mec="0.2", mew=0.5, label="trained", linestyle="none")
    if curve:
        from .theory import trainable_depth
        from .theory.noise import Dropout

        fine = np.linspace(kp.min(), min(kp.max(), 0.995), 300)
        ax.plot(2 * fine, trainable_depth(Dropout(fine)), color=PALETTE[1], lw=2, label=r"$6\xi_c(p)$")
    ax.set_xlim(_edges(x)[0], _edges(x)[-1])
    ax.set_ylim(_edges(ds)[0], _edges(ds)[-1])
    ax.set_xlabel(r"$\sigma_w^2 = 2p$ (keep probability $p$)" if result.get("init", "critical") == "critical"
                  else r"$2p$ (keep probability $p$; all at $\sigma_w^2 = 2$)")
    ax.set_ylabel("hidden layers")
    ax.grid(False)
    if cbar:
        ax.figure.colorbar(img, ax=ax, label=f"final {'validation' if loss == 'val' else 'training'} loss (MSE)")
    return img
