"""Launcher: ``python main.py [FILE ...]`` opens the app; ``python main.py info FILE`` etc. run the CLI."""

import sys

from inspector.app import main

if __name__ == "__main__":
    sys.exit(main())
