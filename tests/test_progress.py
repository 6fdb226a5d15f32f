"""The one progress-bar helper (noisyprop_lib._progress)."""

import numpy as np

from noisyprop_lib._progress import NullBar, progress_bar, wants_progress


def test_disabled_bar_is_silent_and_iterates(capsys):
    bar = progress_bar(5, progress=False, desc="x")
    assert isinstance(bar, NullBar)
    bar.update(2)
    bar.set_postfix(loss=1.0)
    bar.close()
    assert list(progress_bar(range(3), progress=False)) == [0, 1, 2]
    assert list(progress_bar(4, progress=False)) == []
    assert capsys.readouterr().err == ""


def test_enabled_bar_counts():
    bar = progress_bar(np.int64(3), progress=True, desc="x", disable=False, file=open("/dev/null", "w"))
    bar.update(3)
    assert bar.n == 3 and bar.total == 3
    bar.close()
    assert list(progress_bar([1, 2], progress=True, file=open("/dev/null", "w"))) == [1, 2]


def test_auto_rule():
    assert wants_progress(True, auto=False) is True
    assert wants_progress(False, auto=True) is False
    assert wants_progress(None, auto=False) is False  # the rule's own condition fails: never a bar
