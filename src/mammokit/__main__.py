"""``python -m mammokit``: the command line."""

from mammokit.app.cli import run

run()
