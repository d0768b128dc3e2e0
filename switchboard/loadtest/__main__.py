"""``python -m switchboard.loadtest``: the same as ``switchboard loadtest``."""

from __future__ import annotations

import sys

from switchboard.loadtest import main

sys.exit(main())
