"""One progress-bar helper for every long loop of the library (tqdm, shown only when it helps).

Private to the package: the subpackages (``dln``, ``experiments``, ``simulation``) import it; readers never need
it. ``tqdm`` is a dependency, but it is imported only when a bar is actually shown.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable

__all__ = ["NullBar", "progress_bar", "wants_progress"]


class NullBar:
    """A do-nothing stand-in for a tqdm bar: ``update``, ``close``, ``set_postfix`` ... accept anything."""

    def __init__(self, iterable: Iterable | None = None):
        self._iterable = iterable

    def __iter__(self):
        return iter(() if self._iterable is None else self._iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def set_description(self, *args, **kwargs) -> None:
        pass


def wants_progress(progress: bool | None, auto: bool = True) -> bool:
    """Resolve the ``progress`` argument: an explicit bool wins; ``None`` means ``auto`` and stderr is a terminal."""
    if progress is None:
        return bool(auto) and sys.stderr.isatty()
    return bool(progress)


def progress_bar(iterable_or_total, *, progress: bool | None = None, desc: str | None = None, unit: str = "it",
                 leave: bool = True, auto: bool = True, **tqdm_kwargs):
    """A tqdm bar over an iterable or a count of steps, or a silent stand-in.

    Parameters
    ----------
    iterable_or_total : iterable or int
        What to wrap (iterate over the result), or the number of steps (call ``.update()`` on the result).
    progress : bool, optional
        ``True`` always shows a bar, ``False`` never; ``None`` (default) shows one when ``auto`` holds and stderr
        is a terminal.
    desc, unit, leave
        Passed to tqdm.
    auto : bool, optional
        The default rule's extra condition, e.g. ``auto=flops > 5e11`` to show bars only for long runs.
    **tqdm_kwargs
        Any further tqdm option.

    Returns
    -------
    tqdm or NullBar
        Both iterate (over the iterable given, or nothing) and have ``update``, ``close``, ``set_postfix`` and
        ``set_description``; both are context managers.

    Examples
    --------
    >>> bar = progress_bar(3, progress=False, desc="steps")
    >>> for _ in range(3):
    ...     bar.update(1)
    >>> bar.close()
    >>> list(progress_bar([1, 2], progress=False))
    [1, 2]
    """
    is_total = isinstance(iterable_or_total, numbers.Integral) and not isinstance(iterable_or_total, bool)
    if not wants_progress(progress, auto):
        return NullBar(None if is_total else iterable_or_total)
    from tqdm.auto import tqdm

    if is_total:
        return tqdm(total=int(iterable_or_total), desc=desc, unit=unit, leave=leave, **tqdm_kwargs)
    return tqdm(iterable_or_total, desc=desc, unit=unit, leave=leave, **tqdm_kwargs)
