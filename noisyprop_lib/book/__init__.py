"""Book runtime, shipped with the library because the Colab notebooks need it: claims, glue, seeds and threads."""
from . import claims, glue, seeding  # noqa: E402,F401  (light: sympy is imported only by the symbolic claims)
