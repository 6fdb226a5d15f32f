"""Shared internals of the dln subpackage: the seed type, sqrt(2), the solver error."""
from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np

SeedLike = Union[None, int, Sequence[int], np.random.Generator]
_SQRT2 = math.sqrt(2.0)


class SolverError(RuntimeError):
    """An optimisation routine (implicit-bias solver, linear program) failed to converge."""
