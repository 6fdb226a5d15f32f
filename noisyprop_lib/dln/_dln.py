r"""Diagonal linear networks trained by (S)GD: implicit bias, large stepsizes, edge of stability.

Part III of the book. The model is the two-layer diagonal linear network
:math:`x\mapsto\langle u\odot v, x\rangle` on overparametrised least squares,
:math:`L(\beta) = \frac1{2n}\|X\beta - y\|^2` with :math:`\beta = u\odot v`,
initialised at :math:`u_0 = \sqrt2\,\alpha`, :math:`v_0 = 0` (so
:math:`\beta_0 = 0`) and trained by (stochastic) gradient descent

.. math::

   g_k = \nabla L_{\mathcal B_k}(u_k\odot v_k),\qquad
   u_{k+1} = u_k - \gamma g_k\odot v_k,\qquad v_{k+1} = v_k - \gamma g_k\odot u_k .

The module provides

* the sparse-regression data model (centred or uncentred Gaussian features)
  with its exact population test loss (:class:`SparseRegression`,
  :func:`make_sparse_regression`);
* a trainer for GD and SGD of any batch size, vectorised over stepsizes,
  datasets and sampling seeds, that records the per-step quantities behind the
  effective initialisation and reports divergence instead of overflowing
  (:func:`train_dln`, :class:`DLNRun`);
* the hyperbolic entropy :math:`\psi_\alpha`, its gradient, inverse mirror map,
  conjugate and Bregman divergence;
* the scalar functions :math:`q, q_\pm` and the effective initialisation;
* the implicit-bias solver :math:`\arg\min_{X\beta=y} D_{\psi_\alpha}(\beta,\tilde\beta)`
  (dual Newton method), basis pursuit and the minimum-:math:`\ell_2` interpolator;
* sharpness, the edge-of-stability stepsize and a search for the largest
  convergent stepsize.

Everything is float64 NumPy; no GPU is needed at the book's problem sizes.

References
----------
Even, Pesme, Gunasekar, Flammarion, "(S)GD over diagonal linear networks:
implicit bias, large stepsizes and edge of stability", NeurIPS 2023.
Woodworth et al., "Kernel and rich regimes in overparametrized models", COLT 2020.
Pesme, Pillaud-Vivien, Flammarion, "Implicit bias of SGD for diagonal linear
networks: a provable benefit of stochasticity", NeurIPS 2021.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from .._progress import progress_bar
from .._validation import check_finite, check_positive_int, check_range, scalar_or_array

__all__ = [
    "SparseRegression",
    "make_sparse_regression",
    "population_second_moment",
    "hyperbolic_entropy",
    "hyperbolic_entropy_grad",
    "hyperbolic_entropy_conjugate",
    "mirror_map_inverse",
    "bregman_divergence",
    "q",
    "q_plus",
    "q_minus",
    "effective_alpha",
    "DLNRun",
    "train_dln",
    "implicit_bias_solution",
    "basis_pursuit",
    "min_l2_interpolator",
    "loss_hessian",
    "sharpness",
    "interpolator_sharpness",
    "gamma_eos",
    "StepsizeSearch",
    "largest_convergent_stepsize",
    "support_ratio",
    "SolverError",
]

SeedLike = Union[None, int, Sequence[int], np.random.Generator]
_SQRT2 = math.sqrt(2.0)


class SolverError(RuntimeError):
    """An optimisation routine (implicit-bias solver, linear program) failed to converge."""


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# the hyperbolic entropy
# ---------------------------------------------------------------------------


def _alpha(alpha, shape=None, name="alpha") -> np.ndarray:
    a = check_range(name, alpha, 0.0, None, low_inclusive=False)
    return a if shape is None else np.broadcast_to(a, shape)


def hyperbolic_entropy(beta, alpha, *, coordinatewise: bool = False) -> np.ndarray:
    r"""The hyperbolic entropy :math:`\psi_\alpha(\beta)`, summed over the last axis.

    .. math::

       \psi_\alpha(\beta) = \frac12\sum_i\Big(\beta_i\,\mathrm{arcsinh}\frac{\beta_i}{\alpha_i^2}
       - \sqrt{\beta_i^2+\alpha_i^4} + \alpha_i^2\Big),

    evaluated as :math:`\frac12\sum_i\big(\beta_i\,\mathrm{arcsinh}(\beta_i/\alpha_i^2) - \beta_i^2/(\sqrt{\beta_i^2+\alpha_i^4}+\alpha_i^2)\big)`
    to avoid cancellation for :math:`|\beta_i|\ll\alpha_i^2`. A scalar ``beta`` gives the one-coordinate value.
    Strictly convex, :math:`\psi_\alpha(0) = 0`; it tends to :math:`\|\beta\|_2^2/(4\alpha^2)` as
    :math:`\alpha\to\infty` and to :math:`\ln(1/\alpha)\|\beta\|_1` as :math:`\alpha\to0` (Woodworth et al., 2020).

    Parameters
    ----------
    beta : float or array
    alpha : float or array broadcastable to ``beta``, > 0
    coordinatewise : bool
        Return the per-coordinate terms instead of their sum over the last axis.
    """
    beta = check_finite("beta", beta)
    a2 = _alpha(alpha) ** 2
    root = np.sqrt(beta**2 + a2**2)
    terms = 0.5 * (beta * np.arcsinh(beta / a2) - beta**2 / (root + a2))
    return scalar_or_array(terms if (terms.ndim == 0 or coordinatewise) else terms.sum(axis=-1))


def hyperbolic_entropy_grad(beta, alpha) -> np.ndarray:
    r"""The mirror map :math:`\nabla\psi_\alpha(\beta) = \frac12\mathrm{arcsinh}(\beta/\alpha^2)` (elementwise)."""
    beta = check_finite("beta", beta)
    return scalar_or_array(0.5 * np.arcsinh(beta / _alpha(alpha) ** 2))


def mirror_map_inverse(z, alpha) -> np.ndarray:
    r"""The inverse mirror map :math:`(\nabla\psi_\alpha)^{-1}(z) = \alpha^2\sinh(2z)` (elementwise)."""
    z = check_finite("z", z)
    return scalar_or_array(_alpha(alpha) ** 2 * np.sinh(2.0 * z))


def hyperbolic_entropy_conjugate(z, alpha, *, coordinatewise: bool = False) -> np.ndarray:
    r"""The convex conjugate :math:`\psi_\alpha^*(z) = \sum_i\frac12\alpha_i^2(\cosh 2z_i - 1)`, summed over the last axis.

    ``coordinatewise=True`` returns the terms of the sum instead.
    """
    z = check_finite("z", z)
    terms = _alpha(alpha) ** 2 * np.sinh(z) ** 2  # (cosh 2z - 1)/2 = sinh(z)^2, no cancellation
    return scalar_or_array(terms if (terms.ndim == 0 or coordinatewise) else terms.sum(axis=-1))


def bregman_divergence(beta, beta_ref, alpha) -> np.ndarray:
    r"""Bregman divergence :math:`D_{\psi_\alpha}(\beta,\beta') = \psi_\alpha(\beta)-\psi_\alpha(\beta')-\langle\nabla\psi_\alpha(\beta'),\beta-\beta'\rangle`.

    Summed over the last axis; non-negative, zero only at :math:`\beta = \beta'`.
    """
    beta = check_finite("beta", beta)
    beta_ref = check_finite("beta_ref", beta_ref)
    a = _alpha(alpha)
    grad = 0.5 * np.arcsinh(beta_ref / a**2)
    lin = (grad * (beta - beta_ref))
    lin = lin if lin.ndim == 0 else lin.sum(axis=-1)
    return scalar_or_array(np.asarray(hyperbolic_entropy(beta, a)) - np.asarray(hyperbolic_entropy(beta_ref, a)) - lin)


# ---------------------------------------------------------------------------
# q, q_+, q_- and the effective initialisation
# ---------------------------------------------------------------------------


def _check_away_from(name, x, points, domain):
    x = check_finite(name, x)
    for p in points:
        if np.any(x == p):
            raise ValueError(f"{name} must lie in {domain}, got a value equal to {p:g}")
    return x


def _q_raw(x: np.ndarray) -> np.ndarray:
    """q(x) = -ln|1 - x^2|, accurate near 0 (log1p), no warnings; +inf at |x| = 1."""
    t = x * x
    small = t < 0.5
    with np.errstate(divide="ignore"):
        return np.where(small, -np.log1p(-np.where(small, t, 0.0)), -np.log(np.abs(1.0 - np.where(small, 0.0, t))))


def _dq_raw(x: np.ndarray) -> np.ndarray:
    r"""q_+(x) - q_-(x) = -4x + 2 ln|(1+x)/(1-x)| (= 4(artanh x - x) on (-1, 1)), accurate near 0."""
    ax = np.abs(x)
    tiny = ax < 1e-2
    xs = np.where(tiny, x, 0.0)
    x2 = xs * xs
    series = 4.0 * xs * x2 * (1.0 / 3 + x2 * (1.0 / 5 + x2 * (1.0 / 7 + x2 * (1.0 / 9))))
    xb = np.where(tiny, 0.5, x)
    with np.errstate(divide="ignore"):
        big = -4.0 * xb + 2.0 * (np.log(np.abs(1.0 + xb)) - np.log(np.abs(1.0 - xb)))
    return np.where(tiny, series, big)


def q(x) -> np.ndarray:
    r"""The gain function :math:`q(x) = -\tfrac12\ln\big((1-x^2)^2\big) = -\ln|1-x^2|`, :math:`x\ne\pm1`.

    Even; :math:`q(x) = x^2 + x^4/2 + O(x^6)`; :math:`q\ge0` exactly on :math:`|x|\le\sqrt2`;
    :math:`x^2\le q(x)\le 2x^2` for :math:`|x|\le1/\sqrt2`. The effective initialisation of (S)GD is
    :math:`\alpha_\infty = \alpha\odot\exp(-\frac12\sum_k q(\gamma_k g_k))` (Even et al., 2023).

    Raises
    ------
    ValueError
        If some ``x`` equals :math:`\pm1`, where :math:`q` is infinite.
    """
    x = _check_away_from("x", x, (1.0, -1.0), "R minus {-1, 1}")
    return scalar_or_array(_q_raw(x))


def q_plus(x) -> np.ndarray:
    r""":math:`q_+(x) = -2x - \ln\big((1-x)^2\big)`, :math:`x\ne1`; :math:`q_+(x) = x^2 + \tfrac23x^3 + O(x^4)`."""
    x = _check_away_from("x", x, (1.0,), "R minus {1}")
    with np.errstate(divide="ignore"):
        out = np.where(np.abs(x) < 0.5, -2.0 * x - 2.0 * np.log1p(-np.clip(x, -0.5, 0.5)),
                       -2.0 * x - 2.0 * np.log(np.abs(1.0 - np.where(np.abs(x) < 0.5, 0.0, x))))
    return scalar_or_array(out)


def q_minus(x) -> np.ndarray:
    r""":math:`q_-(x) = 2x - \ln\big((1+x)^2\big) = q_+(-x)`, :math:`x\ne-1`."""
    x = _check_away_from("x", x, (-1.0,), "R minus {-1}")
    return q_plus(-x)


def effective_alpha(alpha, gain) -> np.ndarray:
    r"""The effective initialisation :math:`\alpha_\infty = \alpha\odot e^{-\mathrm{Gain}/2}`.

    :math:`\mathrm{Gain} = \ln(\alpha^2/\alpha_\infty^2) = \sum_k q(\gamma_k g_k)` (elementwise).
    """
    a = _alpha(alpha)
    gain = check_finite("gain", gain)
    return scalar_or_array(a * np.exp(-0.5 * gain))


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


@dataclass
class DLNRun:
    r"""The outcome of :func:`train_dln`: final state, loss history and the gain bookkeeping.

    Every per-run array has the leading shape ``run_shape`` (``()`` for a single run, ``(G,)`` for
    G stepsizes on one dataset, ``(D,)`` for D datasets, ``(D, G)`` for a grid), followed by
    ``(d,)`` for vectors or ``(K,)`` for the loss history.

    Attributes
    ----------
    gamma : float or array
        Stepsize of each run.
    alpha : array (..., d)
        Initialisation scale (:math:`u_0 = \sqrt2\alpha`, :math:`v_0 = 0`).
    batch_size : int or array
        Mini-batch size ``b`` (``b = n`` is GD); an array when the runs had different batch sizes.
    u, v : array (..., d)
        Final parameters (:attr:`beta` is :math:`u\odot v`). For a diverged run: the last state
        before the divergence was detected.
    loss : array (..., K)
        Training loss :math:`L(\beta_k)` at the steps ``loss_steps``; NaN from the step where a run
        diverged on.
    loss_steps : array (K,)
        Step indices of ``loss``.
    initial_loss, final_loss : float or array
        :math:`L(0)` and :math:`L` at the final (or last pre-divergence) state.
    diverged : bool or array
        True when the loss became non-finite or exceeded ``diverge_factor * L(0)``.
    diverged_step : int or array
        Step at which the divergence was detected (-1 if it was not).
    converged : bool or array
        Not diverged and ``final_loss <= converge_rtol * initial_loss``.
    n_steps : int
        Steps actually taken (fewer than asked if every run stopped early).
    gain : array (..., d)
        :math:`\mathrm{Gain} = \sum_k q(\gamma g_k) = \ln(\alpha^2/\alpha_\infty^2)`.
    gain_diff : array (..., d)
        :math:`\sum_k (q_+ - q_-)(\gamma g_k)`, so that :math:`\sum_k q_\pm = \mathrm{gain}\pm\mathrm{gain\_diff}/2`.
    step_sum : array (..., d)
        :math:`S = \sum_k\gamma g_k`, a vector of :math:`\mathrm{range}(X^\top)`.
    step_sq_sum : array (..., d)
        :math:`\sum_k(\gamma g_k)^2`.
    cond_step_sq_sum : array (..., d) or None
        :math:`\sum_k E[(\gamma g_k)^2\mid\beta_k]` over the batch draw (with ``track_sgf=True``).
    loss_sum : float or array
        :math:`\sum_k L(\beta_k)` over the steps taken.
    max_abs_step : float or array
        :math:`\max_{k,i}|\gamma g_{k,i}|`.
    n_sign_flips, n_negative_q, n_near_singular : int or array
        Coordinate-steps with :math:`|\gamma g|>1`, with :math:`|\gamma g|>\sqrt2` (where
        :math:`q<0`), and with :math:`||\gamma g|-1|<10^{-12}` (where :math:`q` is numerically infinite).
    history : dict or None
        With ``record_every``: ``steps`` (K',) and ``u``, ``v``, ``gain``, ``gain_diff``,
        ``step_sum`` (and with ``track_sgf``, ``cond_step_sq_sum``) of shape (..., K', d), the
        values *before* the step of that index.
    seed : object
        The sampling seed argument (SGD), for the record.
    run_shape : tuple
        The leading shape of the per-run arrays.
    """

    gamma: np.ndarray
    alpha: np.ndarray
    batch_size: int
    u: np.ndarray
    v: np.ndarray
    loss: np.ndarray
    loss_steps: np.ndarray
    initial_loss: np.ndarray
    final_loss: np.ndarray
    diverged: np.ndarray
    diverged_step: np.ndarray
    converged: np.ndarray
    n_steps: int
    gain: np.ndarray
    gain_diff: np.ndarray
    step_sum: np.ndarray
    step_sq_sum: np.ndarray
    loss_sum: np.ndarray
    max_abs_step: np.ndarray
    n_sign_flips: np.ndarray
    n_negative_q: np.ndarray
    n_near_singular: np.ndarray
    cond_step_sq_sum: np.ndarray | None = None
    history: dict | None = None
    seed: object = None
    run_shape: tuple = ()
    dataset_index: np.ndarray | None = field(default=None, repr=False)

    @property
    def beta(self) -> np.ndarray:
        r"""The final predictor :math:`\beta = u\odot v`."""
        return self.u * self.v

    def _log_alpha2(self, sign: float) -> np.ndarray:
        # log of alpha_inf^2 (sign 0), alpha_+^2 (sign +1) or alpha_-^2 (sign -1)
        return 2.0 * np.log(self.alpha) - self.gain - sign * 0.5 * self.gain_diff

    @property
    def alpha_inf(self) -> np.ndarray:
        r"""Effective initialisation :math:`\alpha_\infty = \alpha e^{-\mathrm{Gain}/2}`."""
        return np.exp(0.5 * self._log_alpha2(0.0))

    @property
    def alpha_plus(self) -> np.ndarray:
        r""":math:`\alpha_+ = \alpha\exp(-\frac12\sum_k q_+(\gamma g_k))`."""
        with np.errstate(over="ignore"):
            return np.exp(0.5 * self._log_alpha2(1.0))

    @property
    def alpha_minus(self) -> np.ndarray:
        r""":math:`\alpha_- = \alpha\exp(-\frac12\sum_k q_-(\gamma g_k))`."""
        with np.errstate(over="ignore"):
            return np.exp(0.5 * self._log_alpha2(-1.0))

    @property
    def beta_tilde(self) -> np.ndarray:
        r"""The perturbed initialisation :math:`\tilde\beta = \frac12(\alpha_+^2-\alpha_-^2)`."""
        with np.errstate(over="ignore", invalid="ignore"):
            return 0.5 * (np.exp(self._log_alpha2(1.0)) - np.exp(self._log_alpha2(-1.0)))

    def closed_form_beta(self) -> np.ndarray:
        r"""The final iterate from the closed form :math:`\beta = \frac12(\alpha_+^2e^{-2S}-\alpha_-^2e^{2S})` (Even et al., 2023)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return 0.5 * (np.exp(self._log_alpha2(1.0) - 2 * self.step_sum) - np.exp(self._log_alpha2(-1.0) + 2 * self.step_sum))

    def loss_increases(self, up_to_step: int | None = None) -> np.ndarray:
        """Number of recorded steps with :math:`L_{k+1} > L_k`, optionally only among the first ``up_to_step`` steps."""
        loss = self.loss
        if up_to_step is not None:
            up_to_step = check_positive_int("up_to_step", up_to_step)
            loss = loss[..., : int(np.searchsorted(self.loss_steps, up_to_step, side="right"))]
        with np.errstate(invalid="ignore"):
            inc = np.diff(loss, axis=-1) > 0
        return inc.sum(axis=-1)

    def _per_run(self, fn, X, y, out_tail=()):
        X = check_finite("X", X)
        y = check_finite("y", y)
        Xs = X[None] if X.ndim == 2 else X
        ys = y[None] if y.ndim == 1 else y
        idx = np.zeros(self.run_shape, dtype=int) if self.dataset_index is None else self.dataset_index
        flat = idx.reshape(-1)
        d = self.u.shape[-1]
        u = self.u.reshape(-1, d)
        v = self.v.reshape(-1, d)
        if flat.size and flat.max() >= Xs.shape[0]:
            raise ValueError(f"X must be the design matrix (or stack) the runs were trained on, got shape {X.shape}")
        out = np.array([fn(Xs[flat[r]], ys[flat[r]], r, u[r], v[r]) for r in range(u.shape[0])])
        return scalar_or_array(out.reshape(self.run_shape + tuple(out_tail)))

    def sharpness(self, X, y) -> np.ndarray:
        r"""Top eigenvalue of the loss Hessian in :math:`(u, v)` at the final state of each run (see :func:`sharpness`).

        ``X`` and ``y`` are the training data (the same arrays passed to :func:`train_dln`).
        """
        return self._per_run(lambda Xr, yr, r, ur, vr: _sharpness_uv(Xr, yr, ur, vr), X, y)

    def predicted_beta(self, X, y) -> np.ndarray:
        r"""The implicit-bias prediction :math:`\hat\beta(\alpha_\infty,\tilde\beta) = \arg\min_{X\beta=y}D_{\psi_{\alpha_\infty}}(\beta,\tilde\beta)` per run.

        By Theorem 1 of Even et al. (2023) this is the limit of every run that converges to an
        interpolator. Runs that did not converge (``converged`` is False: diverged, or still far
        from zero loss) get NaN: for them the prediction is not defined.
        """
        d = self.u.shape[-1]
        ainf = self.alpha_inf.reshape(-1, d)
        bt = self.beta_tilde.reshape(-1, d)
        conv = np.asarray(self.converged).reshape(-1)

        def one(Xr, yr, r, ur, vr):
            if not conv[r]:
                return np.full(d, np.nan)
            return implicit_bias_solution(Xr, yr, ainf[r], bt[r])

        return self._per_run(one, X, y, out_tail=(d,))


def _make_generators(seed: SeedLike, run_shape: tuple) -> list:
    """Per-run sampling generators, in row-major order over ``run_shape``.

    Run ``i`` draws from ``SeedSequence(s, spawn_key=(j,))``: with an int seed ``s`` and ``j = i``; with
    an array of seeds, ``s = seed[i]`` and ``j = 0``. So run ``i`` of a batch trained with an array of
    seeds is the run trained alone with ``seed=int(seed[i])``. A Generator spawns independent streams.
    """
    R = int(np.prod(run_shape, dtype=int))
    if isinstance(seed, np.random.Generator):
        return list(seed.spawn(R))
    if seed is None:
        return [np.random.default_rng(s) for s in np.random.SeedSequence().spawn(R)]
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return [np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(i,))) for i in range(R)]
    arr = np.asarray(seed)
    if arr.dtype.kind not in "iu" or np.any(arr < 0):
        raise ValueError(f"seed must be an int, a Generator or an array of non-negative ints of shape {tuple(run_shape)}, got {seed!r}")
    if arr.shape != tuple(run_shape):
        raise ValueError(f"seed must give one seed per run: shape {tuple(run_shape)}, got shape {arr.shape}")
    return [np.random.default_rng(np.random.SeedSequence(int(s), spawn_key=(0,))) for s in arr.reshape(-1)]


def train_dln(
    X,
    y,
    gamma,
    alpha,
    *,
    batch_size: int | None = None,
    n_steps: int = 10_000,
    seed: SeedLike = None,
    diverge_factor: float = 1e6,
    converge_rtol: float = 1e-10,
    stop_rtol: float | None = None,
    record_loss_every: int = 1,
    record_every: int | None = None,
    track_sgf: bool = False,
    progress: bool | None = None,
) -> DLNRun:
    r"""Train diagonal linear networks :math:`\beta = u\odot v` by (S)GD from :math:`u_0=\sqrt2\alpha`, :math:`v_0=0`.

    The update is simultaneous,

    .. math::

       g_k = \frac1b\sum_{i\in\mathcal B_k}(\langle x_i,\beta_k\rangle - y_i)\,x_i,\quad
       u_{k+1} = u_k - \gamma g_k\odot v_k,\quad v_{k+1} = v_k - \gamma g_k\odot u_k,

    with :math:`\mathcal B_k` a uniformly random subset of size :math:`b` (without replacement
    within a batch, independently across steps); :math:`b = n` is GD. The trainer accumulates
    :math:`\mathrm{Gain}=\sum_k q(\gamma g_k)`, :math:`\sum_k(q_+-q_-)(\gamma g_k)` and
    :math:`S = \sum_k\gamma g_k`, from which the effective initialisation :math:`\alpha_\infty`,
    the perturbation :math:`\tilde\beta` and the implicit-bias prediction follow (Even et al., 2023,
    Theorem 1).

    Many runs train at once, as one array program:

    * ``X`` of shape (n, d) with ``gamma`` a number or an array (G,): G stepsizes on one dataset;
    * ``X`` of shape (D, n, d), ``y`` (D, n), with ``gamma`` a number or (D,): one run per dataset;
      or ``gamma`` of shape (D, G): G stepsizes on each of D datasets.

    ``alpha`` broadcasts to ``run_shape + (d,)``. For SGD, ``seed`` is an int or a Generator
    (independent per-run streams) or an array of ints of shape ``run_shape``; run ``i`` of a batch
    trained with an array of seeds is the run trained alone with ``seed=int(seed[i])``, up to the
    rounding of batched matrix products (about 1e-16).

    Parameters
    ----------
    X : array (n, d) or (D, n, d)
    y : array (n,) or (D, n)
    gamma : float or array, > 0
        Constant stepsize of each run (see above for the shapes).
    alpha : float or array broadcastable to ``run_shape + (d,)``, > 0
        Initialisation scale.
    batch_size : int or array of int, optional
        Mini-batch size in [1, n]; None means n (GD). An array broadcastable to ``run_shape`` gives
        each run its own batch size.
    n_steps : int
        Maximum number of steps.
    seed : int, array of int, numpy.random.Generator or None
        Batch sampling (ignored for GD).
    diverge_factor : float
        A run diverges when its loss is non-finite or exceeds ``diverge_factor * L(0)``; it is then
        rolled back to its last accepted state, frozen and reported (``diverged``,
        ``diverged_step``). Nothing overflows and no warning is printed.
    converge_rtol : float
        A run counts as converged when its final loss is at most ``converge_rtol * L(0)``.
    stop_rtol : float, optional
        Stop early once every run has loss at most ``stop_rtol * L(0)`` or has diverged.
    record_loss_every : int
        Record the training loss every this many steps.
    record_every : int, optional
        Also record ``u``, ``v``, the gains and ``S`` every this many steps (5 K d floats per run).
    track_sgf : bool
        Accumulate :math:`\sum_k E[(\gamma g_k)^2\mid\beta_k]`, from
        :math:`E[g_{\mathcal B}^{2}] = \nabla L^2 + \frac{n-b}{b(n-1)}\big(\frac1n\sum_i r_i^2x_i^2 - \nabla L^2\big)`.
    progress : bool, optional
        Show a tqdm bar over the steps; by default only when stderr is a terminal.

    Returns
    -------
    DLNRun

    Raises
    ------
    ValueError
        If a shape does not match, a stepsize or ``alpha`` is not positive, the batch size is
        outside [1, n], or another argument is out of its range (the message names it).
    """
    X = check_finite("X", X)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must have shape (n, d) or (D, n, d), got shape {X.shape}")
    n, d = X.shape[-2:]
    y = check_finite("y", y)
    if y.shape != X.shape[:-1]:
        raise ValueError(f"y must have shape {X.shape[:-1]} to match X of shape {X.shape}, got shape {y.shape}")
    gamma_arr = check_range("gamma", gamma, 0.0, None, low_inclusive=False)
    alpha_arr = check_range("alpha", alpha, 0.0, None, low_inclusive=False)
    if batch_size is None:
        b_arr = np.array(n)
    elif isinstance(batch_size, (numbers.Integral, np.integer)) and not isinstance(batch_size, (bool, np.bool_)):
        b_arr = np.array(check_positive_int("batch_size", batch_size))
    else:
        b_arr = np.asarray(batch_size)
        if b_arr.dtype.kind not in "iu" or b_arr.ndim == 0:
            raise ValueError(f"batch_size must be an integer in [1, n] = [1, {n}] or an array of them, got {batch_size!r}")
    if np.any(b_arr < 1) or np.any(b_arr > n):
        bad = b_arr[(b_arr < 1) | (b_arr > n)].ravel()[:3].tolist()
        raise ValueError(f"batch_size must lie in [1, n] = [1, {n}], got {bad if b_arr.ndim else int(b_arr)}")
    n_steps = check_positive_int("n_steps", n_steps)
    diverge_factor = float(check_range("diverge_factor", diverge_factor, 1.0, None, low_inclusive=False))
    converge_rtol = float(check_range("converge_rtol", converge_rtol, 0.0, None))
    if stop_rtol is not None:
        stop_rtol = float(check_range("stop_rtol", stop_rtol, 0.0, None))
    record_loss_every = check_positive_int("record_loss_every", record_loss_every)
    if record_every is not None:
        record_every = check_positive_int("record_every", record_every)

    # run layout: internally (D, G) with D datasets and G runs per dataset
    if X.ndim == 2:
        if gamma_arr.ndim > 1:
            raise ValueError(f"gamma must be a number or a 1-d array when X has shape (n, d), got shape {gamma_arr.shape}")
        run_shape = gamma_arr.shape
        D, G = 1, int(np.prod(run_shape, dtype=int))
        Xd, yd = X[None], y[None]
        gam = gamma_arr.reshape(1, G)
    else:
        D = X.shape[0]
        if gamma_arr.ndim == 0 or gamma_arr.shape == (D,):
            run_shape, G = (D,), 1
            gam = np.broadcast_to(gamma_arr, (D,)).reshape(D, 1)
        elif gamma_arr.ndim == 2 and gamma_arr.shape[0] == D:
            run_shape, G = gamma_arr.shape, gamma_arr.shape[1]
            gam = gamma_arr
        else:
            raise ValueError(f"with X of shape (D, n, d) = {X.shape}, gamma must be a number, shape (D,) = ({D},) or (D, G), got shape {gamma_arr.shape}")
        Xd, yd = X, y
    gam = np.array(gam, dtype=float)
    try:
        alpha_b = np.array(np.broadcast_to(alpha_arr, tuple(run_shape) + (d,)), dtype=float).reshape(D, G, d)
    except ValueError:
        raise ValueError(f"alpha must be a number or broadcastable to run_shape + (d,) = {tuple(run_shape) + (d,)}, got shape {alpha_arr.shape}") from None
    try:
        b_run = np.broadcast_to(b_arr, tuple(run_shape)).reshape(D, G).astype(np.int64)
    except ValueError:
        raise ValueError(f"batch_size must be an int or broadcastable to the runs' shape {tuple(run_shape)}, got shape {b_arr.shape}") from None
    stochastic = bool(np.any(b_run < n))
    bmax = int(b_run.max())
    uniform_b = bool(np.all(b_run == bmax))
    gens = _make_generators(seed, tuple(run_shape)) if stochastic else None
    # per-run batch weights 1/b on the first b slots (runs with different batch sizes share one array program)
    bw = (np.arange(bmax)[None, None, :] < b_run[:, :, None]) / b_run[:, :, None]

    Xt = np.ascontiguousarray(np.swapaxes(Xd, 1, 2))  # (D, d, n)
    Xn = Xd / n  # (D, n, d)
    X2n = Xd**2 / n if track_sgf else None
    dix = np.arange(D)[:, None]  # broadcasts against (D, G)
    gix = np.arange(G)[None, :]
    chunk = 1024

    b_flat = b_run.reshape(-1)

    def draw(k0):
        m = min(chunk, n_steps - k0)
        if bmax == 1:
            idx = np.stack([g.integers(0, n, size=m) for g in gens], axis=-1)  # (m, R)
            return idx.reshape(m, D, G)
        idx = np.zeros((m, len(gens), bmax), dtype=np.int64)
        for j, (g, bj) in enumerate(zip(gens, b_flat)):
            if bj == 1:
                idx[:, j, 0] = g.integers(0, n, size=m)
            else:  # a uniformly random subset of size b: the b smallest of n uniform keys
                idx[:, j, :bj] = g.random((m, n)).argpartition(bj - 1, axis=1)[:, :bj]
        return idx.reshape(m, D, G, bmax)

    def residual(beta):
        r = np.matmul(beta, Xt)  # (D, G, n)
        r -= yd[:, None, :]
        return r

    u = _SQRT2 * alpha_b
    v = np.zeros((D, G, d))
    u_prev, v_prev = u, v
    gain = np.zeros((D, G, d))
    atx = np.zeros((D, G, d))  # sum of (q_+ - q_-)/4, i.e. of artanh(x) - x while |x| < 1
    S = np.zeros((D, G, d))
    sq = np.zeros((D, G, d))
    csq = np.zeros((D, G, d)) if track_sgf else None
    loss_sum = np.zeros((D, G))
    max_abs = np.zeros((D, G, d))  # running max of |gamma g| per coordinate
    n_flip = np.zeros((D, G), dtype=np.int64)
    n_negq = np.zeros((D, G), dtype=np.int64)
    n_sing = np.zeros((D, G), dtype=np.int64)
    alive = np.ones((D, G), dtype=bool)
    any_dead = False
    div_step = np.full((D, G), -1, dtype=np.int64)
    loss_hist = np.empty((D, G, n_steps // record_loss_every + 1))
    hist = None
    if record_every is not None:
        hist = {"steps": [], "u": [], "v": [], "gain": [], "gain_diff": [], "step_sum": []}
        if track_sgf:
            hist["cond_step_sq_sum"] = []
    L0 = np.broadcast_to((0.5 / n) * np.sum(yd**2, axis=-1)[:, None], (D, G)).copy()
    threshold = diverge_factor * np.maximum(L0, np.finfo(float).tiny)
    stop_level = None if stop_rtol is None else stop_rtol * L0
    idx_chunk = None
    cb = ((n - b_run) / (b_run * (n - 1)) if n > 1 else np.zeros((D, G)))[:, :, None]
    half_over_n = 0.5 / n
    k = 0
    L = L0
    gcol = gam[:, :, None].copy()
    bar = progress_bar(n_steps, progress=progress, desc="train_dln", unit="step", leave=False)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(n_steps + 1):
            if bar is not None and k:
                bar.update(1)
            beta = u * v
            r = residual(beta)
            L = np.add.reduce(r * r, axis=-1) * half_over_n
            if not (L <= threshold).all():  # a run diverged (NaN and inf fail the test too)
                bad = alive & ~(L <= threshold)
                div_step[bad] = k
                alive &= ~bad
                any_dead = True
                gcol = (gam * alive)[:, :, None]
                # roll the diverged runs back to their last accepted state and freeze them there
                u = np.where(bad[:, :, None], u_prev, u)
                v = np.where(bad[:, :, None], v_prev, v)
                beta = u * v
                r = residual(beta)
                L = np.add.reduce(r * r, axis=-1) * half_over_n
            if k % record_loss_every == 0:
                loss_hist[:, :, k // record_loss_every] = L
            if hist is not None and k % record_every == 0:
                for key, val in (("u", u), ("v", v), ("gain", gain), ("gain_diff", 4.0 * atx), ("step_sum", S)):
                    hist[key].append(val.copy())
                if track_sgf:
                    hist["cond_step_sq_sum"].append(csq.copy())
                hist["steps"].append(k)
            if k == n_steps or (any_dead and not alive.any()):
                break
            if stop_level is not None and k % 8 == 0 and ((L <= stop_level) | ~alive).all():
                break
            loss_sum += np.where(alive, L, 0.0) if any_dead else L
            if stochastic:
                if k % chunk == 0:
                    idx_chunk = draw(k)
                idx = idx_chunk[k % chunk]
                if bmax == 1:  # idx (D, G)
                    g = Xd[dix, idx] * r[dix, gix, idx][:, :, None]
                else:  # idx (D, G, bmax)
                    xb = Xd[dix[:, :, None], idx]  # (D, G, bmax, d)
                    rb = np.take_along_axis(r, idx, axis=-1)  # (D, G, bmax)
                    g = np.einsum("dgbk,dgb->dgk", xb, rb * bw) if not uniform_b else np.einsum("dgbk,dgb->dgk", xb, rb) / bmax
            else:
                g = np.matmul(r, Xn)
            if track_sgf:
                grad = g if not stochastic else np.matmul(r, Xn)
                m2 = np.matmul(r * r, X2n)
                csq += gcol**2 * (grad**2 + cb * (m2 - grad**2))
            x = gcol * g
            ax = np.abs(x)
            np.maximum(max_abs, ax, out=max_abs)
            t = x * x
            if ax.max() < 0.5:
                gain -= np.log1p(-t)
                atx += np.arctanh(x) - x
            else:  # a few large steps: the general formulas only where they are needed
                big = ax >= 0.5
                xs = np.where(big, 0.0, x)
                gain -= np.log1p(-(xs * xs))
                atx += np.arctanh(xs) - xs
                where_big = np.nonzero(big)
                xb = x[where_big]
                gain[where_big] += _q_raw(xb)
                atx[where_big] += 0.25 * _dq_raw(xb)
                run_of = where_big[:-1]
                axb = np.abs(xb)
                np.add.at(n_flip, run_of, axb > 1.0)
                np.add.at(n_negq, run_of, axb > _SQRT2)
                np.add.at(n_sing, run_of, np.abs(axb - 1.0) < 1e-12)
            S += x
            sq += t
            u_prev, v_prev = u, v
            u, v = u - x * v, v - x * u
    if bar is not None:
        bar.close()

    steps_taken = k
    n_kept = steps_taken // record_loss_every + 1
    loss_hist = loss_hist[:, :, :n_kept]
    for di, gi in zip(*np.nonzero(div_step >= 0)):  # the loss history stops where a run diverged
        loss_hist[di, gi, (div_step[di, gi] + record_loss_every - 1) // record_loss_every:] = np.nan
    diverged = div_step >= 0
    converged = ~diverged & (L <= converge_rtol * L0)
    rs = tuple(run_shape)

    def shape(a, tail=()):
        a = np.asarray(a).reshape(rs + tuple(tail))
        return a.item() if a.ndim == 0 else a

    if hist is not None:
        hist = {key: (np.array(val) if key == "steps" else np.stack(val, axis=2).reshape(rs + (len(val), d)))
                for key, val in hist.items()}
    return DLNRun(
        gamma=shape(gam),
        alpha=shape(alpha_b, (d,)),
        batch_size=int(bmax) if uniform_b else shape(b_run),
        u=shape(u, (d,)),
        v=shape(v, (d,)),
        loss=shape(loss_hist, (n_kept,)),
        loss_steps=np.arange(n_kept) * record_loss_every,
        initial_loss=shape(L0),
        final_loss=shape(L),
        diverged=shape(diverged),
        diverged_step=shape(div_step),
        converged=shape(converged),
        n_steps=int(steps_taken),
        gain=shape(gain, (d,)),
        gain_diff=shape(4.0 * atx, (d,)),
        step_sum=shape(S, (d,)),
        step_sq_sum=shape(sq, (d,)),
        loss_sum=shape(loss_sum),
        max_abs_step=shape(max_abs.max(axis=-1)),
        n_sign_flips=shape(n_flip),
        n_negative_q=shape(n_negq),
        n_near_singular=shape(n_sing),
        cond_step_sq_sum=None if csq is None else shape(csq, (d,)),
        history=hist,
        seed=seed if stochastic else None,
        run_shape=rs,
        dataset_index=np.broadcast_to(np.arange(D)[:, None], (D, G)).reshape(rs) if X.ndim == 3 else None,
    )


# ---------------------------------------------------------------------------
# interpolators: implicit bias, basis pursuit, minimum l2
# ---------------------------------------------------------------------------


def _check_design(X, y):
    X = check_finite("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got shape {X.shape}")
    y = check_finite("y", y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got shape {y.shape}")
    n, d = X.shape
    if n > d or np.linalg.matrix_rank(X) < n:
        raise ValueError(f"X must have full row rank n <= d so that interpolators exist for every y, got shape {X.shape} and rank {np.linalg.matrix_rank(X)}")
    return X, y


def _dual_newton(X, y, la2, z0, lam, tol, max_iter):
    """Newton's method with Armijo backtracking on G(lam) = sum alpha^2 cosh(z0 + 2 X^T lam)/2 - lam.y."""
    ynorm = max(float(np.linalg.norm(y)), 1e-300)

    la = 0.5 * la2

    def evaluate(lam):
        # G = sum alpha^2 (cosh w - 1)/2 - lam.y = sum (alpha sinh(w/2))^2 - lam.y, computed without
        # the constant sum alpha^2/2 (no cancellation) and without overflow when alpha is tiny
        # alpha^2 sinh(w) = sign(w) e^{|w| + 2 ln alpha} (1 - e^{-2|w|})/2: no overflow for tiny alpha,
        # no cancellation for small |w| (large alpha)
        w = z0 + 2.0 * (lam @ X)
        aw = np.abs(w)
        big = np.exp(aw + la2)
        e2 = np.exp(-2.0 * aw)
        beta = 0.5 * np.sign(w) * big * (-np.expm1(-2.0 * aw))
        c = 0.5 * big * (1.0 + e2)
        sh = 0.5 * np.exp(0.5 * aw + la) * (-np.expm1(-aw))
        G = np.sum(sh * sh) - lam @ y
        return G, beta, c

    with np.errstate(over="ignore", invalid="ignore"):
        G, beta, c = evaluate(lam)
        if not np.isfinite(G):
            return lam, beta, False, 0
        for it in range(max_iter):
            grad = X @ beta - y
            gnorm = np.linalg.norm(grad)
            if gnorm <= tol * ynorm:
                return lam, beta, True, it
            Hs = 2.0 * (X * c) @ X.T
            try:
                step = -np.linalg.solve(Hs, grad)
            except np.linalg.LinAlgError:
                step = -np.linalg.lstsq(Hs, grad, rcond=None)[0]
            slope = grad @ step
            t = 1.0
            accepted = False
            for _ in range(60):
                lam_new = lam + t * step
                G_new, beta_new, c_new = evaluate(lam_new)
                if np.isfinite(G_new):
                    # Armijo, or (near the solution, where rounding hides the decrease of G)
                    # a step that halves the residual, as Newton's quadratic convergence does
                    accepted = bool(G_new <= G + 1e-4 * t * slope) or bool(np.linalg.norm(X @ beta_new - y) <= 0.5 * gnorm)
                if accepted:
                    break
                t *= 0.5
            if not accepted:
                return lam, beta, False, it
            lam, G, beta, c = lam_new, G_new, beta_new, c_new
        grad = X @ beta - y
        return lam, beta, bool(np.linalg.norm(grad) <= tol * ynorm), max_iter


def implicit_bias_solution(X, y, alpha, beta_ref=None, *, tol: float = 1e-12, max_iter: int = 200,
                           return_multiplier: bool = False):
    r"""The interpolator closest to ``beta_ref`` in the Bregman divergence of :math:`\psi_\alpha`.

    .. math::

       \hat\beta(\alpha,\tilde\beta) = \arg\min_{X\beta = y} D_{\psi_\alpha}(\beta,\tilde\beta),

    with :math:`\tilde\beta = 0` (``beta_ref=None``) giving :math:`\arg\min_{X\beta=y}\psi_\alpha(\beta)`,
    the limit of gradient flow from scale :math:`\alpha` (Woodworth et al., 2020). By the KKT conditions
    :math:`\hat\beta = \alpha^2\sinh(z_0 + 2X^\top\lambda)` with :math:`z_0 = \mathrm{arcsinh}(\tilde\beta/\alpha^2)`,
    where :math:`\lambda\in\mathbb R^n` minimises the dual
    :math:`G(\lambda) = \sum_i\frac12\alpha_i^2\cosh(z_{0,i}+2(X^\top\lambda)_i) - \lambda^\top y`.
    :math:`G` is minimised by Newton's method with Armijo backtracking (the Hessian is
    :math:`2X\,\mathrm{diag}(\alpha^2\cosh(\cdot))X^\top`), in overflow-free form
    (:math:`\alpha^2e^{\pm w} = e^{\pm w + 2\ln\alpha}`). When the smallest :math:`\alpha_i` is below
    :math:`10^{-3}` the solve is continued from a larger scale, dividing :math:`\alpha` by 10 at a time.

    Parameters
    ----------
    X : array (n, d)
        Full row rank, :math:`n\le d`.
    y : array (n,)
    alpha : float or array (d,), > 0
    beta_ref : array (d,), optional
        The reference point :math:`\tilde\beta` (default 0).
    tol : float
        Stop when :math:`\|X\beta - y\|\le` ``tol`` :math:`\|y\|`; must lie in [1e-15, 1e-6].
    max_iter : int
        Newton iterations per continuation stage.
    return_multiplier : bool
        Also return :math:`\lambda`.

    Returns
    -------
    beta : array (d,)
        (and ``lam`` with ``return_multiplier=True``)

    Raises
    ------
    SolverError
        If Newton's method does not reach the tolerance.
    """
    X, y = _check_design(X, y)
    n, d = X.shape
    alpha = np.broadcast_to(_alpha(alpha), (d,)).astype(float)
    tol = float(check_range("tol", tol, 1e-15, 1e-6))
    max_iter = check_positive_int("max_iter", max_iter)
    if beta_ref is None:
        beta_ref = np.zeros(d)
    else:
        beta_ref = check_finite("beta_ref", beta_ref)
        if beta_ref.shape != (d,):
            raise ValueError(f"beta_ref must have shape ({d},), got shape {beta_ref.shape}")
    amin = float(alpha.min())
    if amin < 1e-3:
        n_stages = int(np.ceil(np.log10(1e-2 / amin)))
        scales = 10.0 ** np.linspace(np.log10(1e-2 / amin), 0.0, n_stages + 1)
    else:
        scales = np.array([1.0])
    lam = np.zeros(n)
    ok = False
    for sc in scales:
        a = alpha * sc
        la2 = 2.0 * np.log(a)
        z0 = np.arcsinh(beta_ref / a**2)
        lam, beta, ok, _ = _dual_newton(X, y, la2, z0, lam, tol, max_iter)
    if not ok:
        res = np.linalg.norm(X @ beta - y) / max(np.linalg.norm(y), 1e-300)
        raise SolverError(f"implicit_bias_solution: dual Newton did not reach relative residual {tol:g} (got {res:.3g}); "
                          f"alpha in [{alpha.min():.3g}, {alpha.max():.3g}]")
    return (beta, lam) if return_multiplier else beta


def basis_pursuit(X, y, weights=None) -> np.ndarray:
    r"""(Weighted) basis pursuit :math:`\arg\min_{X\beta=y}\sum_i w_i|\beta_i|` as a linear program.

    Solved as :math:`\min w^\top(p+m)` subject to :math:`X(p-m) = y`, :math:`p, m\ge0`, with
    ``scipy.optimize.linprog`` (HiGHS).

    Parameters
    ----------
    X : array (n, d), full row rank
    y : array (n,)
    weights : array (d,), optional
        Positive weights (default all ones).
    """
    from scipy.optimize import linprog

    X, y = _check_design(X, y)
    n, d = X.shape
    w = np.ones(d) if weights is None else np.broadcast_to(check_range("weights", weights, 0.0, None, low_inclusive=False), (d,))
    res = linprog(np.concatenate([w, w]), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise SolverError(f"basis_pursuit: linprog failed ({res.message})")
    return res.x[:d] - res.x[d:]


def min_l2_interpolator(X, y) -> np.ndarray:
    r"""The minimum-:math:`\ell_2` interpolator :math:`X^\top(XX^\top)^{-1}y`."""
    X, y = _check_design(X, y)
    return X.T @ np.linalg.solve(X @ X.T, y)


# ---------------------------------------------------------------------------
# sharpness and stepsizes
# ---------------------------------------------------------------------------


def loss_hessian(X, y, u, v) -> np.ndarray:
    r"""Hessian of :math:`F(u,v) = L(u\odot v)` in :math:`(u, v)`, a :math:`2d\times2d` matrix.

    .. math::

       \nabla^2F = \begin{pmatrix} D_vHD_v & D_vHD_u + D_g\\ D_uHD_v + D_g & D_uHD_u\end{pmatrix},
       \qquad H = X^\top X/n,\ g = \nabla L(u\odot v),\ D_a = \mathrm{diag}(a).
    """
    X = check_finite("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got shape {X.shape}")
    n, d = X.shape
    u = check_finite("u", u)
    v = check_finite("v", v)
    if u.shape != (d,) or v.shape != (d,):
        raise ValueError(f"u and v must have shape ({d},), got {u.shape} and {v.shape}")
    return _hessian_uv(X, None if y is None else check_finite("y", y), u, v)


def _hessian_uv(X, y, u, v):
    n, d = X.shape
    H = X.T @ X / n
    Hm = np.empty((2 * d, 2 * d))
    Hm[:d, :d] = v[:, None] * H * v[None, :]
    Hm[:d, d:] = v[:, None] * H * u[None, :]
    Hm[d:, :d] = Hm[:d, d:].T
    Hm[d:, d:] = u[:, None] * H * u[None, :]
    if y is not None:
        g = X.T @ (X @ (u * v) - y) / n
        Hm[np.arange(d), d + np.arange(d)] += g
        Hm[d + np.arange(d), np.arange(d)] += g
    return Hm


def _sharpness_uv(X, y, u, v):
    return float(np.linalg.eigvalsh(_hessian_uv(X, y, u, v))[-1])


def sharpness(X, y, u, v) -> float:
    r"""Sharpness :math:`\lambda_{\max}\nabla^2F(u,v)` of the diagonal network (see :func:`loss_hessian`).

    ``y=None`` drops the gradient blocks, which vanish at an interpolator.
    """
    return float(np.linalg.eigvalsh(loss_hessian(X, y, u, v))[-1])


def interpolator_sharpness(X, beta, alpha) -> float:
    r"""Sharpness at an interpolator reached with invariant :math:`u^2-v^2 = 2\alpha^2`.

    .. math:: S(\beta) = \lambda_{\max}\big(H^{1/2}\,\mathrm{diag}(2\sqrt{\beta^2+\alpha^4})\,H^{1/2}\big).
    """
    X = check_finite("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got shape {X.shape}")
    n, d = X.shape
    beta = check_finite("beta", beta)
    if beta.shape != (d,):
        raise ValueError(f"beta must have shape ({d},), got shape {beta.shape}")
    a = np.broadcast_to(_alpha(alpha), (d,))
    s = np.sqrt(2.0 * np.sqrt(beta**2 + a**4))
    H = X.T @ X / n
    return float(np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1])


def gamma_eos(X, y, alpha) -> float:
    r"""The edge-of-stability stepsize :math:`\gamma_{\rm EoS} = 2/S(\beta^{GF}_\alpha)`.

    The largest stepsize for which the gradient-flow interpolator :math:`\arg\min_{X\beta=y}\psi_\alpha`
    is a linearly stable fixed point of GD.
    """
    beta = implicit_bias_solution(X, y, alpha)
    return 2.0 / interpolator_sharpness(X, beta, alpha)


@dataclass
class StepsizeSearch:
    """Result of :func:`largest_convergent_stepsize`.

    With a stack of D datasets every per-dataset field has a leading axis of length D.

    Attributes
    ----------
    gamma_max : float or array (D,)
        Largest grid stepsize whose run converged; NaN where none did (then ``found`` is False).
    found : bool or array (D,)
        Whether at least one grid stepsize converged.
    grid : array (G,)
        The stepsizes tried.
    converged, diverged : array of bool, (G,) or (D, G)
        Per grid point.
    loss_ratio : array, (G,) or (D, G)
        Final loss over initial loss per grid point (inf for diverged runs).
    batch_size : int
    n_steps : int
    seed : object
        The sampling seed (SGD), for the record.
    """

    gamma_max: np.ndarray
    found: np.ndarray
    grid: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    loss_ratio: np.ndarray
    batch_size: int
    n_steps: int
    seed: object = None


def largest_convergent_stepsize(X, y, alpha, *, batch_size: int | None = None, grid=None, n_steps: int = 20_000,
                                loss_rtol: float = 1e-3, seed: SeedLike = 0) -> StepsizeSearch:
    r"""Largest stepsize of a geometric grid for which (S)GD converges.

    Every grid stepsize (on every dataset of a stack) is trained with :func:`train_dln`; a stepsize
    counts as convergent when its run did not diverge and its loss after ``n_steps`` is at most
    ``loss_rtol`` :math:`L(0)`. For SGD the answer is random; it is reported with its ``seed``.

    To save time the grid is first screened for ``n_steps // 10`` steps; only stepsizes that did not
    diverge there are trained for the full ``n_steps``, with the same sampling streams, so the
    screening changes nothing in the result.

    Parameters
    ----------
    X : array (n, d) or (D, n, d)
    y : array (n,) or (D, n)
    alpha : float or array, > 0
    batch_size : int, optional
        None (GD) or the SGD batch size.
    grid : array, optional
        Stepsizes to try (default: 24 geometric points on [1e-3, 1e2]).
    n_steps : int
    loss_rtol : float
        Convergence level, in (0, 1].
    seed : int or Generator
        Sampling seed; each grid run gets its own stream derived from it.
    """
    grid = np.geomspace(1e-3, 1e2, 24) if grid is None else check_range("grid", grid, 0.0, None, low_inclusive=False)
    grid = np.sort(np.atleast_1d(grid))
    if grid.ndim != 1:
        raise ValueError(f"grid must be a 1-d array of stepsizes, got shape {grid.shape}")
    loss_rtol = float(check_range("loss_rtol", loss_rtol, 0.0, 1.0, low_inclusive=False))
    n_steps = check_positive_int("n_steps", n_steps)
    Xa = check_finite("X", X)
    if _is_array_seed(seed):
        raise ValueError(f"seed must be an int or a Generator for a stepsize search, got {seed!r}")
    D = 1 if Xa.ndim == 2 else Xa.shape[0]
    G = grid.size
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    run_seeds = rng.integers(0, 2**63 - 1, size=(D, G))  # one stream per (dataset, stepsize), reused by both stages

    def run(cols, steps):
        gam = grid[cols] if Xa.ndim == 2 else np.broadcast_to(grid[cols], (D, cols.size))
        sd = run_seeds[0, cols] if Xa.ndim == 2 else run_seeds[:, cols]
        return train_dln(X, y, gam, alpha, batch_size=batch_size, n_steps=steps, seed=sd,
                         record_loss_every=steps, stop_rtol=min(loss_rtol, 1e-12))

    cols = np.arange(G)
    diverged = np.zeros((D, G), dtype=bool)
    if n_steps >= 100:
        screen = run(cols, n_steps // 10)
        diverged = np.asarray(screen.diverged).reshape(D, G).copy()
        cols = np.flatnonzero(~diverged.all(axis=0))
    ratio = np.full((D, G), np.inf)
    if cols.size:
        res = run(cols, n_steps)
        div_full = np.asarray(res.diverged).reshape(D, cols.size)
        diverged[:, cols] = div_full
        ratio[:, cols] = np.where(div_full, np.inf, np.asarray(res.final_loss).reshape(D, cols.size)
                                  / np.asarray(res.initial_loss).reshape(D, cols.size))
    conv = ~diverged & (ratio <= loss_rtol)
    found = conv.any(axis=-1)
    gmax = np.where(found, np.max(np.where(conv, grid, -np.inf), axis=-1), np.nan)
    if Xa.ndim == 2:
        gmax, found, conv, diverged, ratio = gmax[0], bool(found[0]), conv[0], diverged[0], ratio[0]
    b_used = Xa.shape[-2] if batch_size is None else batch_size
    return StepsizeSearch(gamma_max=scalar_or_array(gmax), found=found, grid=grid, converged=conv, diverged=diverged,
                          loss_ratio=ratio, batch_size=b_used, n_steps=n_steps, seed=seed)


def _is_array_seed(seed) -> bool:
    return seed is not None and not isinstance(seed, (numbers.Integral, np.integer, np.random.Generator))


def support_ratio(values, support) -> np.ndarray:
    """Mean of ``values`` on the support over its mean off the support (over the last axis)."""
    values = check_finite("values", values)
    support = np.asarray(support, dtype=bool)
    if support.shape != values.shape[-1:]:
        raise ValueError(f"support must be a boolean mask of shape {values.shape[-1:]}, got shape {support.shape}")
    if support.all() or not support.any():
        raise ValueError("support must contain at least one True and one False entry")
    return scalar_or_array(values[..., support].mean(axis=-1) / values[..., ~support].mean(axis=-1))
