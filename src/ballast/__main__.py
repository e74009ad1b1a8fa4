"""``python -m ballast``: the same command line as ``ballast``."""

from ballast.cli import main

main()
