"""``python -m merauto`` runs the command line."""

import sys

from merauto.cli import main

sys.exit(main())
