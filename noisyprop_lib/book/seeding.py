"""Seeds and thread counts of the book's computations, settable for the whole build.

Every random computation in a chapter takes its seed from :func:`book_seed`, so
that one environment variable moves the whole book onto other random draws
without changing any of its mathematics:

``NOISYPROP_SEED_OFFSET``
    a non-negative integer (default 0). ``book_seed(k)`` is ``k`` when it is 0
    and ``k + 10007 * offset`` otherwise, so the seeds of one build never
    coincide with the seeds of a build with another offset.
``NOISYPROP_NUM_THREADS``
    the number of threads torch uses in a chapter (default: the chapter's own
    choice, usually 1). Another thread count changes the order of
    floating-point reductions, and so the last bits of every simulation.

The continuous-integration script builds the book under two such settings,
and a claim must hold under both: that is how the book checks that its
stochastic claims do not depend on the machine or on one lucky draw
(``CONTRIBUTING.md``, "Stochastic claims").
"""
from __future__ import annotations

import os

__all__ = ["SEED_OFFSET_ENV", "THREADS_ENV", "SEED_STRIDE", "seed_offset", "book_seed", "configure_threads"]

SEED_OFFSET_ENV = "NOISYPROP_SEED_OFFSET"
THREADS_ENV = "NOISYPROP_NUM_THREADS"
#: a prime larger than any seed a chapter uses, so offsets never map one seed onto another
SEED_STRIDE = 10007


def _env_int(name: str, minimum: int) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer >= {minimum}, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"environment variable {name} must be an integer >= {minimum}, got {value}")
    return value


def seed_offset() -> int:
    """The build-wide seed offset read from ``NOISYPROP_SEED_OFFSET`` (0 when unset)."""
    value = _env_int(SEED_OFFSET_ENV, 0)
    return 0 if value is None else value


def book_seed(base: int) -> int:
    """The seed a chapter uses where it would write ``base``.

    Parameters
    ----------
    base : int
        The chapter's own seed, a non-negative integer.

    Returns
    -------
    int
        ``base + SEED_STRIDE * seed_offset()``: ``base`` itself in a default build.
    """
    if isinstance(base, bool) or not isinstance(base, int) or base < 0:
        raise ValueError(f"base must be a non-negative integer, got {base!r}")
    return base + SEED_STRIDE * seed_offset()


def configure_threads(default: int = 1) -> int:
    """Set torch's thread count from ``NOISYPROP_NUM_THREADS``, else to ``default``; return it."""
    if isinstance(default, bool) or not isinstance(default, int) or default < 1:
        raise ValueError(f"default must be a positive integer, got {default!r}")
    n = _env_int(THREADS_ENV, 1)
    n = default if n is None else n
    import torch

    torch.set_num_threads(n)
    return n
