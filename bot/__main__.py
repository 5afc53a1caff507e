"""`python -m bot` is `newsbot`."""

import sys

from bot.cli import main

if __name__ == "__main__":  # not when a poll process (spawned) imports this module again
    sys.exit(main())
