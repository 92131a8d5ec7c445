"""`python -m tunegen` runs the CLI."""

import sys

from tunegen.cli import main

sys.exit(main())
