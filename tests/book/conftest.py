"""Shared fixtures of the book-plumbing tests: the MyST front matter of a tiny chapter."""
import textwrap

import pytest

#: the jupytext front matter every MyST chapter starts with (the tests write tiny chapters with it)
MYST_FRONT_MATTER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """)


@pytest.fixture
def myst_front_matter():
    return MYST_FRONT_MATTER
