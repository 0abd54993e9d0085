"""``python -m cvzoo`` is the same as the ``cvzoo`` console script."""

from __future__ import annotations

import sys

from cvzoo.cli import main

sys.exit(main())
