"""`python -m edge` is the same front door as the `edge` command."""

import sys

from edge.cli.main import main

sys.exit(main())
