"""`python -m tunegen` runs the CLI."""

import sys

try:
    from tunegen.cli import run
except KeyboardInterrupt:  # Ctrl-C while the CLI's own modules load, before run() is there
    print("tunegen: interrupted", file=sys.stderr)
    sys.exit(130)
run()
