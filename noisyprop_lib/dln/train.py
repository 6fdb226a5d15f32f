"""Training diagonal networks by (S)GD: :func:`train_dln`, one array program over stepsizes, datasets and seeds."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._progress import progress_bar
from .._validation import check_finite, check_positive_int, check_range
from ._common import _SQRT2, SeedLike
from ._sampling import _BatchSampler, _make_generators
from .mirror import _dq_raw, _q_raw
from .run import DLNRun

__all__ = ["train_dln"]



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
        outside [1, n], or another argument is out of its range (the message names it).
    """
    X, y, gamma_arr, alpha_arr, b_arr = _check_data(X, y, gamma, alpha, batch_size)
    n_steps = check_positive_int("n_steps", n_steps)
    diverge_factor = float(check_range("diverge_factor", diverge_factor, 1.0, None, low_inclusive=False))
    converge_rtol = float(check_range("converge_rtol", converge_rtol, 0.0, None))
    if stop_rtol is not None:
        stop_rtol = float(check_range("stop_rtol", stop_rtol, 0.0, None))
    record_loss_every = check_positive_int("record_loss_every", record_loss_every)
    if record_every is not None:
        record_every = check_positive_int("record_every", record_every)

    lay = _layout(X, y, gamma_arr, alpha_arr, b_arr)
    sampler = _BatchSampler(_make_generators(seed, lay.run_shape), lay, n_steps) if lay.stochastic else None
    tr = _Trainer(lay, sampler, n_steps, diverge_factor, record_loss_every, record_every, track_sgf)
    stop_level = None if stop_rtol is None else stop_rtol * tr.L0
    k = 0
    bar = progress_bar(n_steps, progress=progress, desc="train_dln", unit="step", leave=False)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(n_steps + 1):
            if k:
                bar.update(1)
            r, L = tr.evaluate(k)
            tr.record(k, L)
            if k == n_steps or (tr.any_dead and not tr.alive.any()):
                break
            if stop_level is not None and k % 8 == 0 and ((L <= stop_level) | ~tr.alive).all():
                break
            tr.step(k, r, L)
    bar.close()
    return _package(tr, lay, L, k, converge_rtol, seed)


def _check_data(X, y, gamma, alpha, batch_size):
    """Check the data, stepsizes, scales and batch sizes of :func:`train_dln`; return them as arrays."""
    X = check_finite("X", X)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must have shape (n, d) or (D, n, d), got shape {X.shape}")
    n = X.shape[-2]
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
    return X, y, gamma_arr, alpha_arr, b_arr


@dataclass
class _Layout:
    """The runs as a (D, G) array: D datasets, G runs per dataset; ``run_shape`` is what the caller sees."""

    run_shape: tuple
    Xd: np.ndarray  # (D, n, d)
    yd: np.ndarray  # (D, n)
    gam: np.ndarray  # (D, G)
    alpha_b: np.ndarray  # (D, G, d)
    b_run: np.ndarray  # (D, G) batch sizes
    stacked: bool  # X was a stack (D, n, d)

    def __post_init__(self):
        self.D, self.n, self.d = self.Xd.shape
        self.G = self.gam.shape[1]
        self.bmax = int(self.b_run.max())
        self.uniform_b = bool(np.all(self.b_run == self.bmax))
        self.stochastic = bool(np.any(self.b_run < self.n))


def _layout(X, y, gamma_arr, alpha_arr, b_arr) -> _Layout:
    """Broadcast stepsizes, scales and batch sizes to the (D, G) layout of the runs."""
    d = X.shape[-1]
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
    run_shape = tuple(run_shape)
    try:
        alpha_b = np.array(np.broadcast_to(alpha_arr, run_shape + (d,)), dtype=float).reshape(D, G, d)
    except ValueError:
        raise ValueError(f"alpha must be a number or broadcastable to run_shape + (d,) = {run_shape + (d,)}, got shape {alpha_arr.shape}") from None
    try:
        b_run = np.broadcast_to(b_arr, run_shape).reshape(D, G).astype(np.int64)
    except ValueError:
        raise ValueError(f"batch_size must be an int or broadcastable to the runs' shape {run_shape}, got shape {b_arr.shape}") from None
    return _Layout(run_shape, Xd, yd, gam, alpha_b, b_run, X.ndim == 3)


class _Trainer:
    """State and accumulators of all runs; :meth:`evaluate`, :meth:`record` and :meth:`step` make one iteration."""

    def __init__(self, lay: _Layout, sampler, n_steps, diverge_factor, record_loss_every, record_every, track_sgf):
        D, G, n, d = lay.D, lay.G, lay.n, lay.d
        self.lay, self.sampler, self.track_sgf = lay, sampler, track_sgf
        self.record_loss_every, self.record_every = record_loss_every, record_every
        self.Xt = np.ascontiguousarray(np.swapaxes(lay.Xd, 1, 2))  # (D, d, n)
        self.Xn = lay.Xd / n  # (D, n, d)
        self.X2n = lay.Xd**2 / n if track_sgf else None
        self.u = _SQRT2 * lay.alpha_b
        self.v = np.zeros((D, G, d))
        self.u_prev, self.v_prev = self.u, self.v
        self.gain = np.zeros((D, G, d))
        self.atx = np.zeros((D, G, d))  # sum of (q_+ - q_-)/4, i.e. of artanh(x) - x while |x| < 1
        self.S = np.zeros((D, G, d))
        self.sq = np.zeros((D, G, d))
        self.csq = np.zeros((D, G, d)) if track_sgf else None
        self.loss_sum = np.zeros((D, G))
        self.max_abs = np.zeros((D, G, d))  # running max of |gamma g| per coordinate
        self.n_flip = np.zeros((D, G), dtype=np.int64)
        self.n_negq = np.zeros((D, G), dtype=np.int64)
        self.n_sing = np.zeros((D, G), dtype=np.int64)
        self.alive = np.ones((D, G), dtype=bool)
        self.any_dead = False
        self.div_step = np.full((D, G), -1, dtype=np.int64)
        self.loss_hist = np.empty((D, G, n_steps // record_loss_every + 1))
        self.hist = None
        if record_every is not None:
            self.hist = {"steps": [], "u": [], "v": [], "gain": [], "gain_diff": [], "step_sum": []}
            if track_sgf:
                self.hist["cond_step_sq_sum"] = []
        self.L0 = np.broadcast_to((0.5 / n) * np.sum(lay.yd**2, axis=-1)[:, None], (D, G)).copy()
        self.threshold = diverge_factor * np.maximum(self.L0, np.finfo(float).tiny)
        self.cb = ((n - lay.b_run) / (lay.b_run * (n - 1)) if n > 1 else np.zeros((D, G)))[:, :, None]
        self.half_over_n = 0.5 / n
        self.gcol = lay.gam[:, :, None].copy()

    def _residual(self, beta):
        r = np.matmul(beta, self.Xt)  # (D, G, n)
        r -= self.lay.yd[:, None, :]
        return r

    def _loss(self):
        r = self._residual(self.u * self.v)
        return r, np.add.reduce(r * r, axis=-1) * self.half_over_n

    def evaluate(self, k):
        """Residuals and losses at step ``k``; runs that diverge here are rolled back and frozen."""
        r, L = self._loss()
        if not (L <= self.threshold).all():  # a run diverged (NaN and inf fail the test too)
            bad = self.alive & ~(L <= self.threshold)
            self.div_step[bad] = k
            self.alive &= ~bad
            self.any_dead = True
            self.gcol = (self.lay.gam * self.alive)[:, :, None]
            # roll the diverged runs back to their last accepted state and freeze them there
            self.u = np.where(bad[:, :, None], self.u_prev, self.u)
            self.v = np.where(bad[:, :, None], self.v_prev, self.v)
            r, L = self._loss()
        return r, L

    def record(self, k, L):
        if k % self.record_loss_every == 0:
            self.loss_hist[:, :, k // self.record_loss_every] = L
        if self.hist is not None and k % self.record_every == 0:
            for key, val in (("u", self.u), ("v", self.v), ("gain", self.gain), ("gain_diff", 4.0 * self.atx),
                             ("step_sum", self.S)):
                self.hist[key].append(val.copy())
            if self.track_sgf:
                self.hist["cond_step_sq_sum"].append(self.csq.copy())
            self.hist["steps"].append(k)

    def step(self, k, r, L):
        """One (S)GD step from residuals ``r`` and losses ``L``, with the gain bookkeeping."""
        self.loss_sum += np.where(self.alive, L, 0.0) if self.any_dead else L
        g = self.sampler.gradient(k, r) if self.sampler is not None else np.matmul(r, self.Xn)
        if self.track_sgf:
            grad = g if self.sampler is None else np.matmul(r, self.Xn)
            m2 = np.matmul(r * r, self.X2n)
            self.csq += self.gcol**2 * (grad**2 + self.cb * (m2 - grad**2))
        x = self.gcol * g
        self._accumulate_gains(x)
        self.S += x
        self.sq += x * x
        self.u_prev, self.v_prev = self.u, self.v
        self.u, self.v = self.u - x * self.v, self.v - x * self.u

    def _accumulate_gains(self, x):
        """Add q(x) to the gain and (q_+ - q_-)(x)/4 to ``atx``; count sign flips, negative q, near-singular steps."""
        ax = np.abs(x)
        np.maximum(self.max_abs, ax, out=self.max_abs)
        t = x * x
        if ax.max() < 0.5:
            self.gain -= np.log1p(-t)
            self.atx += np.arctanh(x) - x
            return
        # a few large steps: the general formulas only where they are needed
        big = ax >= 0.5
        xs = np.where(big, 0.0, x)
        self.gain -= np.log1p(-(xs * xs))
        self.atx += np.arctanh(xs) - xs
        where_big = np.nonzero(big)
        xb = x[where_big]
        self.gain[where_big] += _q_raw(xb)
        self.atx[where_big] += 0.25 * _dq_raw(xb)
        run_of = where_big[:-1]
        axb = np.abs(xb)
        np.add.at(self.n_flip, run_of, axb > 1.0)
        np.add.at(self.n_negq, run_of, axb > _SQRT2)
        np.add.at(self.n_sing, run_of, np.abs(axb - 1.0) < 1e-12)


def _package(tr: _Trainer, lay: _Layout, L, steps_taken, converge_rtol, seed) -> DLNRun:
    """The :class:`DLNRun` of a finished training, reshaped from (D, G) to ``run_shape``."""
    rle, d, D, G = tr.record_loss_every, lay.d, lay.D, lay.G
    n_kept = steps_taken // rle + 1
    loss_hist = tr.loss_hist[:, :, :n_kept]
    for di, gi in zip(*np.nonzero(tr.div_step >= 0)):  # the loss history stops where a run diverged
        loss_hist[di, gi, (tr.div_step[di, gi] + rle - 1) // rle:] = np.nan
    diverged = tr.div_step >= 0
    converged = ~diverged & (L <= converge_rtol * tr.L0)
    rs = lay.run_shape

    def shape(a, tail=()):
        a = np.asarray(a).reshape(rs + tuple(tail))
        return a.item() if a.ndim == 0 else a

    hist = tr.hist
    if hist is not None:
        hist = {key: (np.array(val) if key == "steps" else np.stack(val, axis=2).reshape(rs + (len(val), d)))
                for key, val in hist.items()}
    return DLNRun(
        gamma=shape(lay.gam), alpha=shape(lay.alpha_b, (d,)),
        batch_size=int(lay.bmax) if lay.uniform_b else shape(lay.b_run),
        u=shape(tr.u, (d,)), v=shape(tr.v, (d,)),
        loss=shape(loss_hist, (n_kept,)), loss_steps=np.arange(n_kept) * rle,
        initial_loss=shape(tr.L0), final_loss=shape(L),
        diverged=shape(diverged), diverged_step=shape(tr.div_step), converged=shape(converged),
        n_steps=int(steps_taken),
        gain=shape(tr.gain, (d,)), gain_diff=shape(4.0 * tr.atx, (d,)), step_sum=shape(tr.S, (d,)),
        step_sq_sum=shape(tr.sq, (d,)), loss_sum=shape(tr.loss_sum), max_abs_step=shape(tr.max_abs.max(axis=-1)),
        n_sign_flips=shape(tr.n_flip), n_negative_q=shape(tr.n_negq), n_near_singular=shape(tr.n_sing),
        cond_step_sq_sum=None if tr.csq is None else shape(tr.csq, (d,)),
        history=hist,
        seed=seed if lay.stochastic else None,
        run_shape=rs,
        dataset_index=np.broadcast_to(np.arange(D)[:, None], (D, G)).reshape(rs) if lay.stacked else None,
    )
