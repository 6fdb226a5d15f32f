r"""Neural-network Gaussian-process (NNGP) kernels of noisy networks, and GP regression with them.

As the width of every layer grows, a randomly initialised network's output is a
Gaussian process over its inputs (Neal, 1996; Lee et al., 2018; Matthews et al.,
2018), whose covariance is the mean-field covariance map iterated over depth.
With noise injected as in this library,
:math:`h^l = W^l\,\nu(\phi(h^{l-1}), \epsilon^{l-1}) + b^l` and the inputs as
:math:`h^0`, the kernel of layer :math:`l` is (Pretorius, Kamper and Kroon, 2020)

.. math::

   K^l(x, x) &= \sigma_w^2\,\mu_2\,E[\phi(u)^2] + \sigma_b^2,
   \qquad u\sim\mathcal N(0, K^{l-1}(x, x)),\\
   K^l(x, x') &= \sigma_w^2\,\mu_1^2\,E[\phi(u)\phi(u')] + \sigma_b^2,
   \qquad x\ne x',

with additive noise contributing :math:`\sigma_w^2\sigma_\epsilon^2` to the
diagonal instead. The noise multiplies the diagonal by :math:`\mu_2` and leaves
the off-diagonal untouched, because two different evaluations of the network
draw independent noise. For ReLU the off-diagonal expectation is the
arc-cosine kernel, :math:`E[\phi(u)\phi(u')] = \tfrac12\sqrt{K(x,x)K(x',x')}\,R(c)`
(Cho and Saul, 2009).

The inputs are the layer-0 signal :math:`h^0 = x` (the convention of the paper's
code and of :func:`noisyprop_lib.propagate`), so the first layer is
exact for the given inputs: its expectations run over the coordinates of
:math:`\phi(x)`, not over a Gaussian. The Gaussian recursion above starts at
layer 2. The kernel is built from :func:`noisyprop_lib.variance_map` and the
activation's :meth:`~noisyprop_lib.Activation.cross_moment`: closed
forms for the rectifiers, quadrature for any other activation (slow for large
matrices).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import check_positive_int, check_range
from .activations import LeakyReLU, get_activation
from ._moments import _noise_moments
from .meanfield import variance_map
from .noise import as_noise
from ._signature import accepts_layer

__all__ = ["nngp_kernel", "gp_regression", "GPPrediction"]


def _check_inputs(name, X):
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real array of shape (n, d), got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_inputs, input_dim), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must contain at least one input of dimension >= 1, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, but it contains inf or NaN")
    return arr


@accepts_layer
def nngp_kernel(X1, X2=None, *, depth: int, sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""The infinite-width (NNGP) kernel of a noisy network after ``depth`` layers.

    Parameters
    ----------
    X1 : array of shape (n1, d)
        Inputs, used as :math:`h^0` (the convention of :func:`noisyprop_lib.propagate`
        and of the paper's code). The first layer is computed exactly from the inputs'
        coordinates, :math:`K^1(x,x') = \sigma_w^2\mu_1^2\,\phi(x)\cdot\phi(x')/d + \sigma_b^2`
        and :math:`K^1(x,x) = \sigma_w^2\mu_2\,|\phi(x)|^2/d + \sigma_b^2` (for pixels in
        :math:`[0,1]` and ReLU, :math:`\phi(x) = x`); the Gaussian recursion starts at layer 2.
    X2 : array of shape (n2, d), optional
        Second set of inputs. Without it the kernel of ``X1`` with itself is
        returned, whose diagonal holds the variance map of each input (the same
        evaluation of the network, hence the factor :math:`\mu_2`). With it every
        entry is the covariance of two *different* evaluations (independent
        noise), even where a row of ``X2`` equals a row of ``X1``.
    depth : int
        Number of noisy layers :math:`L\ge0` (``depth = 0`` returns the inputs' second
        moments :math:`x\cdot x'/d`).
    sigma_w2, sigma_b2 : float
        Weight and bias **variances**, :math:`\ge 0`.
    noise : Noise or None
    activation : Activation, str or callable

    Returns
    -------
    numpy.ndarray of shape (n1, n1) or (n1, n2)
        :math:`K^L(x_i, x'_j)`, with the recursion of the module docstring.

    References
    ----------
    Lee et al. (2018), "Deep neural networks as Gaussian processes";
    Pretorius, Kamper and Kroon (2020), "On the expected behaviour of noise
    regularised deep neural networks as Gaussian processes".

    Examples
    --------
    >>> import numpy as np, noisyprop_lib as npl
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> K = npl.nngp_kernel(X, depth=2, sigma_w2=1.6, noise=npl.Dropout(0.8))
    >>> np.round(K, 4).tolist()   # layer 1: diagonal 1.6 * 1.25 / 2 = 1, off-diagonal 0
    [[1.0, 0.2546], [0.2546, 1.0]]
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    if not nz.is_scalar:
        raise ValueError(f"noise must have scalar parameters for nngp_kernel, got {nz!r}")
    depth = check_positive_int("depth", depth, minimum=0)
    sw = float(check_range("sigma_w2", sigma_w2, 0.0, None))
    sb = float(check_range("sigma_b2", sigma_b2, 0.0, None))
    A = _check_inputs("X1", X1)
    same = X2 is None
    B = A if same else _check_inputs("X2", X2)
    if B.shape[1] != A.shape[1]:
        raise ValueError(f"X2 must have the input dimension of X1, {A.shape[1]}, got {B.shape[1]}")
    d = A.shape[1]
    if depth == 0:
        return A @ B.T / d
    # layer 1 is exact for the given inputs: the expectations over h^0 = x are the empirical ones over its d
    # coordinates (for MNIST pixels, ReLU(x) = x), not Gaussian ones
    diag, off, add_var, add_off = (float(v) for v in _noise_moments(nz, False))
    FA = np.asarray(act(A), dtype=float)
    FB = FA if same else np.asarray(act(B), dtype=float)
    K = sw * (off * (FA @ FB.T) / d + add_off) + sb
    qa = sw * (diag * np.einsum("ij,ij->i", FA, FA) / d + add_var) + sb
    qb = qa if same else sw * (diag * np.einsum("ij,ij->i", FB, FB) / d + add_var) + sb
    for _ in range(depth - 1):
        den = np.sqrt(qa)[:, None] * np.sqrt(qb)[None, :]
        if np.all(qa > 0) and np.all(qb > 0):
            c = np.divide(K, den, out=K)  # K is rebuilt below: reuse its memory
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                c = np.where(den > 0, K / np.where(den > 0, den, 1.0), 0.0)
        np.clip(c, -1.0, 1.0, out=c)
        if isinstance(act, LeakyReLU):
            # the closed form, in place on the whole matrix (the library's elementwise R(c) is accurate
            # to a few ulp near c = 1 but costs several passes; here absolute accuracy 1e-15 suffices):
            # E[phi(u_a) phi(u_b)] = sqrt(q_a q_b) (alpha c + (1 - alpha)^2 (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi))
            a = act.alpha
            cross = np.arccos(c)
            np.subtract(math.pi, cross, out=cross)
            cross *= c
            root = np.multiply(c, c)
            np.subtract(1.0, root, out=root)
            np.maximum(root, 0.0, out=root)
            np.sqrt(root, out=root)
            cross += root
            cross *= 0.5 * (1 - a) ** 2 / math.pi
            if a:
                cross += a * c
            cross *= den
        else:
            cross = np.asarray(act.cross_moment(qa[:, None], qb[None, :], c), dtype=float)
        # K = sigma_w2 (off * cross + add_off) + sigma_b2, in place
        K = cross
        K *= sw * off
        K += sw * add_off + sb
        qa = np.asarray(variance_map(qa, sw, sb, nz, act), dtype=float)
        qb = qa if same else np.asarray(variance_map(qb, sw, sb, nz, act), dtype=float)
    if same:
        K = 0.5 * (K + K.T)  # exact symmetry despite rounding in the elementwise maps
        np.fill_diagonal(K, qa)
    return K


class GPPrediction(NamedTuple):
    """Posterior mean ``(n_test, n_outputs)`` (or ``(n_test,)``) and, if requested, posterior variance ``(n_test,)``."""

    mean: np.ndarray
    variance: np.ndarray | None


def gp_regression(K_train, K_cross, y, noise_var=0.0, K_test_diag=None) -> GPPrediction:
    r"""Gaussian-process regression with a given kernel, by a Cholesky factorisation.

    .. math::

       m(X_*) = K_{*X}\,(K_{XX} + \sigma_n^2 I)^{-1}\,y,\qquad
       v(x_*) = K(x_*, x_*) - K_{*X}(K_{XX} + \sigma_n^2 I)^{-1}K_{X*}

    (Rasmussen and Williams, 2006, Algorithm 2.1).

    Parameters
    ----------
    K_train : array of shape (n, n)
        Symmetric kernel matrix of the training inputs.
    K_cross : array of shape (m, n)
        Kernel between the test inputs (rows) and the training inputs (columns).
    y : array of shape (n,) or (n, k)
        Training targets (``k`` outputs share the kernel, e.g. one-hot classes).
    noise_var : float
        Observation-noise variance :math:`\sigma_n^2\ge0` added to the diagonal.
    K_test_diag : array of shape (m,), optional
        :math:`K(x_*, x_*)`; if given, the posterior variance is returned too.

    Returns
    -------
    GPPrediction
        ``mean`` of shape ``(m,)`` or ``(m, k)``; ``variance`` of shape ``(m,)`` or None.

    Raises
    ------
    ValueError
        Shapes that do not fit, a non-symmetric or non-finite ``K_train``,
        ``noise_var < 0``, or a matrix :math:`K_{XX}+\sigma_n^2I` that is not
        numerically positive definite (increase ``noise_var``).
    """
    from scipy import linalg

    Kt = np.asarray(K_train, dtype=float)
    if Kt.ndim != 2 or Kt.shape[0] != Kt.shape[1] or Kt.shape[0] < 1:
        raise ValueError(f"K_train must be a square (n, n) matrix, got shape {Kt.shape}")
    n = Kt.shape[0]
    if not np.all(np.isfinite(Kt)):
        raise ValueError("K_train must be finite, but it contains inf or NaN")
    scale = max(float(np.max(np.abs(Kt))), np.finfo(float).tiny)
    if np.max(np.abs(Kt - Kt.T)) > 1e-10 * scale:
        raise ValueError("K_train must be symmetric (|K - K^T| <= 1e-10 max|K|)")
    Kc = np.asarray(K_cross, dtype=float)
    if Kc.ndim != 2 or Kc.shape[1] != n:
        raise ValueError(f"K_cross must have shape (n_test, {n}) to match K_train, got shape {Kc.shape}")
    if not np.all(np.isfinite(Kc)):
        raise ValueError("K_cross must be finite, but it contains inf or NaN")
    Y = np.asarray(y, dtype=float)
    if Y.ndim not in (1, 2) or Y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, k) to match K_train, got shape {Y.shape}")
    if not np.all(np.isfinite(Y)):
        raise ValueError("y must be finite, but it contains inf or NaN")
    nv = float(check_range("noise_var", noise_var, 0.0, None))
    A = Kt + nv * np.eye(n)
    try:
        factor = linalg.cho_factor(A, lower=True, check_finite=False)
    except linalg.LinAlgError:
        raise ValueError(
            f"K_train + noise_var I is not numerically positive definite (noise_var = {nv:g}); "
            "increase noise_var, e.g. to 1e-6 times the mean of the diagonal of K_train"
        ) from None
    mean = Kc @ linalg.cho_solve(factor, Y, check_finite=False)
    var = None
    if K_test_diag is not None:
        kd = np.asarray(K_test_diag, dtype=float)
        if kd.shape != (Kc.shape[0],):
            raise ValueError(f"K_test_diag must have shape ({Kc.shape[0]},) to match K_cross, got shape {kd.shape}")
        v = linalg.solve_triangular(factor[0], Kc.T, lower=True, check_finite=False)
        var = kd - np.einsum("ij,ij->j", v, v)
    return GPPrediction(mean, var)
