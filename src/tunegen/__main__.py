"""`python -m tunegen` runs the CLI."""

import sys

try:
    from tunegen.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while the libraries load, before main's own handler
    print("tunegen: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
