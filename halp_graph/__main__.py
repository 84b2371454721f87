"""Entry point for `python -m halp_graph`."""

import sys

from .cli import main

sys.exit(main())
