"""Benchmark: c*, chi(c*) and xi_c for a million noise levels, vectorised vs a scalar brentq loop.

The baseline is what one would write without the library: for each mu2, solve
R(c)/mu2 = c with scipy.optimize.brentq (xtol 1e-14) and evaluate chi and xi_c
with the math module. It runs on a random subset of the grid (it is slow);
the library runs on the full grid of 10^6 points, on one core. The script
prints the time for 10^6 points, the per-point speed ratio, and the largest
disagreement between the two on the subset.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_theory.py
"""
from __future__ import annotations

import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

import noisyprop_lib as npl  # noqa: E402

N_POINTS = 10**6
N_SCALAR = 20000
REPEATS = 3


def scalar_reference(mu2: float) -> tuple[float, float, float]:
    """c*, chi(c*), xi_c for one mu2 > 1 by brentq, the straightforward way."""

    def g(c):
        return (math.sqrt(1.0 - c * c) + (math.pi - math.acos(c)) * c) / math.pi / mu2 - c

    c = brentq(g, 0.0, 1.0, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
    chi = (math.pi - math.acos(c)) / (math.pi * mu2)
    return c, chi, -1.0 / math.log(chi)


def vectorised(mu2: np.ndarray):
    """One call: c*, chi(c*) and xi_c from a single solve."""
    noise = npl.GaussianNoise(np.sqrt(mu2 - 1.0))  # any mean-one law with this mu2 gives the same theory
    return tuple(npl.correlation_fixed_point_analysis(noise))


def vectorised_separate(mu2: np.ndarray):
    """Three calls, as a reader would first write it (each solves for c* again)."""
    noise = npl.GaussianNoise(np.sqrt(mu2 - 1.0))
    return (
        npl.correlation_fixed_point(noise),
        npl.correlation_fixed_point_slope(noise),
        npl.depth_scale(noise),
    )


def main() -> None:
    # mu2 from just above 1 to 1e6, log-spaced in mu2 - 1 so that the hard small-noise end is covered
    mu2 = 1.0 + np.geomspace(1e-6, 1e6 - 1.0, N_POINTS)

    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        c_vec, chi_vec, xi_vec = vectorised(mu2)
        times.append(time.perf_counter() - t0)
    t_vec = min(times)
    t0 = time.perf_counter()
    sep = vectorised_separate(mu2)
    t_sep = time.perf_counter() - t0
    assert all(np.array_equal(a, b) for a, b in zip(sep, (c_vec, chi_vec, xi_vec))), "separate calls disagree"

    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(N_POINTS, size=N_SCALAR, replace=False))
    scalar_times = []
    for _ in range(REPEATS):  # best of REPEATS, as for the vectorised code
        t0 = time.perf_counter()
        ref = np.array([scalar_reference(float(m)) for m in mu2[idx]])
        scalar_times.append(time.perf_counter() - t0)
    t_scalar = min(scalar_times)

    per_point_vec = t_vec / N_POINTS
    per_point_scalar = t_scalar / N_SCALAR
    err_c = np.max(np.abs(c_vec[idx] - ref[:, 0]))
    err_chi = np.max(np.abs(chi_vec[idx] - ref[:, 1]))
    err_xi = np.max(np.abs(xi_vec[idx] - ref[:, 2]) / ref[:, 2])
    assert np.all(np.isfinite(c_vec)) and np.all(np.isfinite(xi_vec)), "non-finite output"

    print(f"grid: {N_POINTS:,} values of mu2 in [1 + 1e-6, 1e6]; threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"vectorised library, correlation_fixed_point_analysis (c*, chi, xi_c), best of {REPEATS}: {t_vec:.3f} s for {N_POINTS:,} points "
          f"({per_point_vec * 1e9:.0f} ns/point)")
    print(f"  (the same as three separate calls: {t_sep:.3f} s, ratio {per_point_scalar * N_POINTS / t_sep:.0f}x)")
    print(f"scalar brentq loop on {N_SCALAR:,} random points, best of {REPEATS}: {t_scalar:.3f} s ({per_point_scalar * 1e6:.1f} us/point)")
    print(f"per-point speed ratio (scalar / vectorised): {per_point_scalar / per_point_vec:.0f}x")
    print(f"agreement on the subset: max |dc*| = {err_c:.1e}, max |dchi| = {err_chi:.1e}, max rel |dxi_c| = {err_xi:.1e}")
    print(f"targets: ratio >= 100x -> {'met' if per_point_scalar / per_point_vec >= 100 else 'NOT met'}; "
          f"1e6 points < 2 s -> {'met' if t_vec < 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
