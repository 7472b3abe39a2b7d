"""``python -m browser_worker`` is the same as the ``browser-worker`` command."""

import sys

from browser_worker.cli import main

sys.exit(main())
