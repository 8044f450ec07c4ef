"""``python -m mammokit``: the command line."""

from mammokit.cli import run

run()
