"""``python -m noisyprop_lib.experiments``: run the Figure 6 experiments from the command line."""
from ._experiments import main

raise SystemExit(main())
