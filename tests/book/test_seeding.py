"""The build-wide seed offset and thread count that CI varies between its two book builds."""
from __future__ import annotations

import pytest

from noisyprop_lib.book import seeding


def test_default_seed_is_the_chapter_seed(monkeypatch):
    monkeypatch.delenv(seeding.SEED_OFFSET_ENV, raising=False)
    assert seeding.seed_offset() == 0
    assert seeding.book_seed(41) == 41


def test_offset_moves_every_seed_to_a_disjoint_set(monkeypatch):
    monkeypatch.setenv(seeding.SEED_OFFSET_ENV, "2")
    assert seeding.book_seed(0) == 2 * seeding.SEED_STRIDE
    assert seeding.book_seed(41) == 41 + 2 * seeding.SEED_STRIDE
    # seeds below the stride never collide with the seeds of another offset
    monkeypatch.setenv(seeding.SEED_OFFSET_ENV, "1")
    once = {seeding.book_seed(k) for k in range(1000)}
    monkeypatch.setenv(seeding.SEED_OFFSET_ENV, "0")
    assert once.isdisjoint({seeding.book_seed(k) for k in range(1000)})


@pytest.mark.parametrize("raw", ["-1", "one", "1.5"])
def test_bad_offset_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(seeding.SEED_OFFSET_ENV, raw)
    with pytest.raises(ValueError, match="NOISYPROP_SEED_OFFSET"):
        seeding.book_seed(1)


@pytest.mark.parametrize("base", [-1, 1.0, True, "3"])
def test_bad_base(base):
    with pytest.raises(ValueError, match="base"):
        seeding.book_seed(base)


def test_threads_from_environment(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(seeding.THREADS_ENV, raising=False)
        assert seeding.configure_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(seeding.THREADS_ENV, "2")
        assert seeding.configure_threads(1) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv(seeding.THREADS_ENV, "0")
        with pytest.raises(ValueError, match="NOISYPROP_NUM_THREADS"):
            seeding.configure_threads()
        with pytest.raises(ValueError, match="default"):
            seeding.configure_threads(0)
    finally:
        torch.set_num_threads(before)
