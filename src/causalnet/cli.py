"""The ``causalnet`` command line: discovers sub-commands in :mod:`causalnet.commands` and lists them in
workflow order (:data:`WORKFLOW`); every ``--help`` states the defaults (:class:`DefaultsHelpFormatter`)."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import pkgutil
import sys

from causalnet import __version__, commands, provenance
from causalnet.commands.options import replay_config

#: The sub-commands in the order ``causalnet --help`` lists them: the order of a study, in stages. A
#: sub-command missing here (a new module in :mod:`causalnet.commands`) is listed after these, by name.
WORKFLOW: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("try it without data", ("demo", "synth")),
    ("prepare data", ("preprocess",)),
    ("train and evaluate", ("train", "evaluate", "sweep", "robustness", "convert")),
    ("use a model", ("predict", "analyze", "review", "spot-eval")),
    ("read results", ("report", "compare")),
    ("reference", ("models",)),
)
ORDER = tuple(name for _stage, names in WORKFLOW for name in names)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option whose help does not already state its default; options
    without a value to state (None, False, an empty list) are left as they are."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is None or text == argparse.SUPPRESS or "default" in text.lower():
            return text
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or default in ([], ""):
            return text
        if not action.option_strings or action.nargs == 0:  # positionals; flags (store_true, count, version)
            return text
        return f"{text} (default: %(default)s)"


def _epilog(present: set[str]) -> str:
    """The stages of :data:`WORKFLOW` with the sub-commands of each that exist, then any others."""
    lines = [(stage, [n for n in names if n in present]) for stage, names in WORKFLOW]
    lines.append(("other", sorted(present - set(ORDER))))
    return "workflow:\n" + "\n".join(f"  {stage + ':':22s}{', '.join(names)}" for stage, names in lines if names)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered sub-command, listed in :data:`ORDER`."""
    parser = argparse.ArgumentParser(
        prog="causalnet",
        description="Robust micro-expression recognition with CausalNet.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"causalnet {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    rank = {name: i for i, name in enumerate(ORDER)}
    sub._choices_actions.sort(key=lambda a: (rank.get(a.dest, len(rank)), a.dest))  # the listing's order
    for command in sub.choices.values():
        command.formatter_class = DefaultsHelpFormatter
    parser.epilog = _epilog(set(sub.choices)) + "\n\n`causalnet COMMAND --help` describes a command's options."
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = replay_config(argv)  # `sweep|robustness|convert --config RUN/config.json ...`: the recorded command
    except (OSError, ValueError) as exc:
        print(f"causalnet {argv[0]}: error: {error_message(exc)}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    provenance.set_command(["causalnet", *argv])  # what config.json records
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, KeyError) as exc:
        # Bad input or a failing system (a full disk, no permission): one line naming the file and the
        # problem, no traceback; files already finished stay (every write is atomic).
        print(f"causalnet {args.command}: error: {error_message(exc)}", file=sys.stderr)
        return 1


def error_message(exc: BaseException) -> str:
    """The one-line message of an error: its text, or ``<file>: <reason>`` for an OS error from the system."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if not isinstance(exc, OSError):
        return str(exc)
    if exc.strerror and exc.filename is not None:
        target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        text = f"{exc.filename}{target}: {exc.strerror}"
        if exc.errno == errno.ENOSPC:
            text += " (the disk is full: free space and rerun; finished files are kept)"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the system's text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
