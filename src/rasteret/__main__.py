"""``python -m rasteret``: the same command line as the ``rasteret`` script."""

from rasteret.cli import main

raise SystemExit(main())
