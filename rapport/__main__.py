"""``python -m rapport``: see rapport/cli.py."""

import sys

from rapport.cli import main

sys.exit(main())
