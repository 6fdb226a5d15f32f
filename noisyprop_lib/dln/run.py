"""The outcome of a diagonal-network training run (:class:`DLNRun`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_finite, check_positive_int, scalar_or_array
from ._uv import _sharpness_uv
from .interpolators import implicit_bias_solution

__all__ = ["DLNRun"]


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
