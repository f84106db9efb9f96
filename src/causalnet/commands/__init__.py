"""Sub-commands of the ``causalnet`` command line.

Every module in this package that defines ``register(subparsers)`` adds one or more
sub-commands; :mod:`causalnet.cli` discovers them, so a new command is a new module here and
nothing else needs editing. ``register`` must call ``subparsers.add_parser(...)`` and set a
``func`` default taking the parsed ``argparse.Namespace`` and returning an exit code.
Import heavy libraries (torch, cv2) inside ``func``, not at module level, so ``causalnet --help``
stays fast.
"""
