r"""Diagonal linear networks trained by (S)GD: implicit bias, large stepsizes, edge of stability.

Part III of the book. The model is the two-layer diagonal linear network
:math:`x\mapsto\langle u\odot v, x\rangle` on overparametrised least squares,
:math:`L(\beta) = \frac1{2n}\|X\beta - y\|^2` with :math:`\beta = u\odot v`,
initialised at :math:`u_0 = \sqrt2\,\alpha`, :math:`v_0 = 0` (so
:math:`\beta_0 = 0`) and trained by (stochastic) gradient descent

.. math::

   g_k &= \nabla L_{\mathcal B_k}(u_k\odot v_k),\\
   u_{k+1} &= u_k - \gamma\, g_k\odot v_k,\\
   v_{k+1} &= v_k - \gamma\, g_k\odot u_k .

The subpackage provides

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

Modules: ``data`` (the sparse-regression model), ``mirror`` (hyperbolic entropy, q, effective initialisation), ``run``
(:class:`DLNRun`), ``train`` (:func:`train_dln`), ``interpolators`` (implicit bias, basis pursuit, minimum l2) and
``stability`` (sharpness, edge-of-stability stepsize, largest convergent stepsize).
"""
from ._common import SolverError
from .data import SparseRegression, make_sparse_regression, population_second_moment
from .interpolators import basis_pursuit, implicit_bias_solution, min_l2_interpolator
from .mirror import (
    bregman_divergence,
    effective_alpha,
    hyperbolic_entropy,
    hyperbolic_entropy_conjugate,
    hyperbolic_entropy_grad,
    mirror_map_inverse,
    q,
    q_minus,
    q_plus,
)
from .run import DLNRun
from .stability import (
    StepsizeSearch,
    gamma_eos,
    interpolator_sharpness,
    largest_convergent_stepsize,
    loss_hessian,
    sharpness,
    support_ratio,
)
from .train import train_dln

__all__ = ['SparseRegression', 'make_sparse_regression', 'population_second_moment', 'hyperbolic_entropy', 'hyperbolic_entropy_grad', 'hyperbolic_entropy_conjugate', 'mirror_map_inverse', 'bregman_divergence', 'q', 'q_plus', 'q_minus', 'effective_alpha', 'DLNRun', 'train_dln', 'implicit_bias_solution', 'basis_pursuit', 'min_l2_interpolator', 'loss_hessian', 'sharpness', 'interpolator_sharpness', 'gamma_eos', 'StepsizeSearch', 'largest_convergent_stepsize', 'support_ratio', 'SolverError']
