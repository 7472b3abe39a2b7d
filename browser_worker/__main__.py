"""``python -m browser_worker`` is the same as the ``browser-worker`` command."""

import sys

from .cli import main

sys.exit(main())
