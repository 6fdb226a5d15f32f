"""One figure style for the book, and the plots it draws again and again.

Colours are the Okabe–Ito palette, distinguishable under the common forms of
colour-vision deficiency; the sequential colour map is ``cividis`` for the
same reason.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PALETTE", "SEQUENTIAL_CMAP", "use_book_style", "theory_vs_simulation"]

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
