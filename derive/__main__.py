"""``python -m derive`` is ``initvar derive``."""

import sys

from initvar.cli import main

sys.exit(main(["derive", *sys.argv[1:]]))
