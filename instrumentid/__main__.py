"""``python -m instrumentid``: the command-line interface."""

from instrumentid.cli import main

raise SystemExit(main())
