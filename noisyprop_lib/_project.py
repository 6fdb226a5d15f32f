"""Where the project lives. ``_config.yml`` (``repository.url``) is the one definition;
``tests/test_colab_notebooks.py`` checks that this copy, ``pyproject.toml`` and the chapters agree with it."""

#: the project's repository (stored results are downloaded from it, see
#: :func:`noisyprop_lib.experiments.load_stored_results`)
REPOSITORY_URL = "https://github.com/noisyprop/noisyprop"
