#!/usr/bin/env python
"""Draw the book's logo and favicon (book/_static/logo.svg, book/_static/favicon.png).

A signal travelling left to right through noisy layers: a clean oscillation
whose samples pick up noise and settle to a fixed level, drawn in the book's
Okabe-Ito blue and vermillion. Run ``python tools/make_logo.py`` to redraw.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STATIC = Path(__file__).resolve().parents[1] / "book" / "_static"
BLUE, VERMILLION = "#0072B2", "#D55E00"


def trace():
    rng = np.random.default_rng(2018)
    x = np.linspace(0.0, 1.0, 400)
    clean = np.sin(2 * np.pi * 3.2 * x) * np.exp(-2.2 * x)
    noise = rng.standard_normal(x.size) * 0.22 * x ** 1.5
    return x, clean, clean + noise


def logo(path):
    x, clean, noisy = trace()
    fig = plt.figure(figsize=(3.0, 1.0))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.plot(x, clean, color=BLUE, lw=3.0, alpha=0.35, solid_capstyle="round")
    ax.plot(x, noisy, color=BLUE, lw=1.6, solid_capstyle="round")
    layers = np.linspace(0.08, 0.92, 8)
    ax.plot(layers, np.interp(layers, x, noisy), "o", ms=6, color=VERMILLION, mec="white", mew=1.0)
    ax.set(xlim=(-0.02, 1.02), ylim=(-1.15, 1.15))
    ax.axis("off")
    fig.savefig(path, transparent=True, metadata={"Date": None})
    plt.close(fig)


def favicon(path):
    x, _, noisy = trace()
    fig = plt.figure(figsize=(0.64, 0.64), dpi=100)     # 64 x 64 pixels
    ax = fig.add_axes([0, 0, 1, 1])
    ax.add_patch(plt.Rectangle((0, 0), 1, 1, transform=ax.transAxes, color=BLUE, zorder=0))
    ax.plot(x, noisy, color="white", lw=2.2, solid_capstyle="round", zorder=1)
    ax.plot([0.5], [np.interp(0.5, x, noisy)], "o", ms=5, color=VERMILLION, mec="white", mew=0.8, zorder=2)
    ax.set(xlim=(-0.05, 1.05), ylim=(-1.3, 1.3))
    ax.axis("off")
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    plt.rcParams["svg.hashsalt"] = "noisyprop"
    logo(STATIC / "logo.svg")
    favicon(STATIC / "favicon.png")
    print(f"wrote {STATIC / 'logo.svg'} and {STATIC / 'favicon.png'}")
