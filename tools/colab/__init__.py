"""The Colab notebook generator, by concern (the entry point is ``tools/colab_notebooks.py``).

* :mod:`config`: the book's configuration (``_config.yml``, ``_toc.yml``), version and install source;
* :mod:`index`: :class:`BookIndex`, the book's numbering of chapters, sections, equations, figures, ...;
* :mod:`bib`: the bibliography as author-year references;
* :mod:`glue`: the keys a chapter glues and the formatting of glued values;
* :mod:`execute`: running a chapter in a plain kernel to collect its glued values;
* :mod:`myst`: the MyST-to-Markdown converter;
* :mod:`notebook`: rendering, writing and checking the notebooks;
* :mod:`cli`: the command line.

The numbering is computed here from ``_toc.yml`` and the chapters, not read from a Sphinx build: ``make
test`` checks that the committed notebooks are current without building the book (a build takes minutes),
and a notebook is generated per chapter. A check that these numbers equal Sphinx's own (read from
``_build/.doctrees/environment.pickle`` after ``make book``) is planned; it does not exist yet.
"""
from .bib import *  # noqa: F401,F403
from .config import *  # noqa: F401,F403
from .execute import *  # noqa: F401,F403
from .glue import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .myst import *  # noqa: F401,F403
from .notebook import *  # noqa: F401,F403
from .cli import main  # noqa: F401
