"""``python -m meanfield``: the ``meanfield`` command line (:func:`meanfield.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
