"""``python -m noisyprop_lib.experiments``: run the Figure 6 experiments from the command line."""
from .cli import main

raise SystemExit(main())
