"""``python -m inspector``: the same as ``checkpoint-inspector``."""

import sys

from inspector.app import main

sys.exit(main())
