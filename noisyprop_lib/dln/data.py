"""The sparse-regression data model of Part III, with its exact population test loss."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_finite, check_positive_int, check_range, scalar_or_array
from ._common import SeedLike

__all__ = ["SparseRegression", "make_sparse_regression", "population_second_moment"]


def population_second_moment(d: int, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    r"""The feature second-moment matrix :math:`E[xx^\top] = \sigma^2 I_d + \mu^2\mathbf 1\mathbf 1^\top`.

    For :math:`x\sim\mathcal N(\mu\mathbf 1, \sigma^2 I_d)`.
    """
    d = check_positive_int("d", d)
    mean = float(check_finite("mean", mean))
    std = float(check_range("std", std, 0.0, None, low_inclusive=False))
    return std**2 * np.eye(d) + mean**2 * np.ones((d, d))


@dataclass(frozen=True)
class SparseRegression:
    r"""An overparametrised sparse linear-regression problem.

    Features :math:`x_i\sim\mathcal N(\mu\mathbf 1, \sigma^2 I_d)`, labels
    :math:`y_i = \langle\beta^\star, x_i\rangle + \varepsilon_i` with
    :math:`\varepsilon_i\sim\mathcal N(0,\sigma_\varepsilon^2)`.

    Attributes
    ----------
    X : array, shape (n, d)
        Design matrix, one example per row.
    y : array, shape (n,)
        Labels.
    beta_star : array, shape (d,)
        The sparse target (supported on its first ``s`` coordinates).
    mean, std : float
        Feature mean :math:`\mu` (every coordinate) and standard deviation :math:`\sigma`.
    noise_std : float
        Label-noise standard deviation :math:`\sigma_\varepsilon`.
    """

    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray
    mean: float = 0.0
    std: float = 1.0
    noise_std: float = 0.0

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def support(self) -> np.ndarray:
        """Boolean mask of the support of ``beta_star``."""
        return self.beta_star != 0

    @property
    def H(self) -> np.ndarray:
        r"""The empirical second-moment matrix :math:`H = X^\top X/n`."""
        return self.X.T @ self.X / self.n

    def train_loss(self, beta) -> np.ndarray:
        r""":math:`L(\beta) = \frac1{2n}\|X\beta - y\|^2`, over the last axis of ``beta``."""
        beta = np.asarray(beta, dtype=float)
        r = beta @ self.X.T - self.y
        return scalar_or_array(0.5 * np.mean(r**2, axis=-1))

    def gradient(self, beta) -> np.ndarray:
        r""":math:`\nabla L(\beta) = X^\top(X\beta - y)/n`, over the last axis of ``beta``."""
        beta = np.asarray(beta, dtype=float)
        return (beta @ self.X.T - self.y) @ self.X / self.n

    def test_loss(self, beta) -> np.ndarray:
        r"""Exact population risk of the noiseless predictor, over the last axis of ``beta``.

        .. math::

           \mathcal R(\beta) = \tfrac12 (\beta-\beta^\star)^\top E[xx^\top](\beta-\beta^\star)
           = \tfrac12\big(\sigma^2\|\Delta\|^2 + \mu^2(\mathbf 1^\top\Delta)^2\big),
           \quad \Delta = \beta - \beta^\star .
        """
        beta = np.asarray(beta, dtype=float)
        delta = beta - self.beta_star
        return scalar_or_array(0.5 * (self.std**2 * np.sum(delta**2, axis=-1) + self.mean**2 * np.sum(delta, axis=-1) ** 2))


def make_sparse_regression(
    n: int,
    d: int,
    s: int,
    *,
    target: Union[str, Sequence[float], np.ndarray] = "gaussian",
    mean: float = 0.0,
    std: float = 1.0,
    noise_std: float = 0.0,
    seed: SeedLike = None,
) -> SparseRegression:
    r"""Draw a sparse regression problem: :math:`n` Gaussian examples in dimension :math:`d`, an :math:`s`-sparse target.

    Parameters
    ----------
    n, d : int
        Number of examples and dimension (the book uses :math:`d > n`).
    s : int
        Size of the support, :math:`1\le s\le d`; the target lives on the first ``s`` coordinates.
    target : {"gaussian", "abs_gaussian", "signs"} or array of length s
        The nonzero values of :math:`\beta^\star`: i.i.d. :math:`\mathcal N(0,1)`, their absolute
        values, the alternating signs :math:`(1,-1,1,\dots)`, or given values.
    mean, std : float
        Features are :math:`\mathcal N(\mu\mathbf 1, \sigma^2 I_d)` (``mean = 0``: centred data).
    noise_std : float
        Standard deviation of Gaussian label noise (0: noiseless labels).
    seed : int, sequence of int, numpy.random.Generator or None
        Randomness for the target, the features and the noise, in that order. Training has its own seed.

    Returns
    -------
    SparseRegression
    """
    n = check_positive_int("n", n)
    d = check_positive_int("d", d)
    s = check_positive_int("s", s)
    if s > d:
        raise ValueError(f"s must lie in [1, d] = [1, {d}], got {s}")
    mean = float(check_finite("mean", mean))
    std = float(check_range("std", std, 0.0, None, low_inclusive=False))
    noise_std = float(check_range("noise_std", noise_std, 0.0, None))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    beta_star = np.zeros(d)
    if isinstance(target, str):
        if target == "gaussian":
            beta_star[:s] = rng.standard_normal(s)
        elif target == "abs_gaussian":
            beta_star[:s] = np.abs(rng.standard_normal(s))
        elif target == "signs":
            beta_star[:s] = np.where(np.arange(s) % 2 == 0, 1.0, -1.0)
        else:
            raise ValueError(f"target must be 'gaussian', 'abs_gaussian', 'signs' or an array of length s, got {target!r}")
    else:
        vals = check_finite("target", target)
        if vals.shape != (s,):
            raise ValueError(f"target must have shape (s,) = ({s},), got shape {vals.shape}")
        beta_star[:s] = vals
    X = mean + std * rng.standard_normal((n, d))
    y = X @ beta_star
    if noise_std > 0:
        y = y + noise_std * rng.standard_normal(n)
    return SparseRegression(X=X, y=y, beta_star=beta_star, mean=mean, std=std, noise_std=noise_std)
