"""``python -m causalnet``: the same command line as the ``causalnet`` console script."""

import sys

from causalnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
