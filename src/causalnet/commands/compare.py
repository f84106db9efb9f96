"""``causalnet compare``: paired comparison of runs on the same clips, with confidence intervals."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    from causalnet.report.stats import N_BOOT, N_PERM, SEED

    p = subparsers.add_parser(
        "compare",
        help="paired comparison of runs on the same clips: ΔUF1/ΔUAR, bootstrap CI over subjects, permutation test",
        description=(
            "Compare every run with the first (Δ = B − A) on exactly the same test clips: the difference in UF1 and "
            "UAR with a 95% confidence interval from a bootstrap over subjects (whole subjects resampled, the unit "
            "of leave-one-subject-out), a paired permutation test over subjects (each subject's predictions of A "
            "and B swapped at random), the same per source dataset, and, with several seeds, the seed spread. "
            "A run is a run folder or a predictions CSV; select rows of a robustness folder with "
            "DIR:model=htnet,condition=sigma30. See docs/reports.md."
        ),
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders or predictions CSVs (the first is the baseline)")
    p.add_argument("--out", metavar="FILE.html", help="also write the comparison as an HTML page (+ PNG, JSON)")
    p.add_argument("--bootstrap", type=int, default=N_BOOT, metavar="N", help="bootstrap draws")
    p.add_argument("--permutations", type=int, default=N_PERM, metavar="N",
                   help="random permutations; all 2^subjects swaps when fewer")
    p.add_argument("--seed", type=int, default=SEED, help="seed of the resampling")
    p.set_defaults(func=run)


def same_runs(runs: list[str]) -> list[str]:
    """A message for every run that repeats an earlier one (the same folder or its predictions.csv, the
    same selection): comparing a run with itself gives Δ = 0 and p = 1, usually a typo in the command."""
    from causalnet.report.compare import parse_run

    seen: dict[tuple, int] = {}
    messages = []
    for i, text in enumerate(runs, start=1):
        path, filters = parse_run(text)
        path = path / "predictions.csv" if path.is_dir() else path
        key = (str(path.resolve()), tuple(sorted(filters.items())))
        if key in seen:
            messages.append(f"runs {seen[key]} and {i} are the same run ({text}): their differences are 0 "
                            "by construction")
        seen.setdefault(key, i)
    return messages


def run(args: argparse.Namespace) -> int:
    from causalnet.checks import between, check_option
    from causalnet.report.compare import compare_runs, comparison_text
    from causalnet.report.document import check_html_path

    if len(args.runs) < 2:
        raise ValueError("compare needs at least two runs")
    for message in same_runs(args.runs):
        print(f"causalnet compare: warning: {message}", file=sys.stderr)
    check_option("--bootstrap", args.bootstrap, between(100, 10_000_000))
    check_option("--permutations", args.permutations, between(100, 10_000_000))
    out = check_html_path(args.out) if args.out else None
    results = compare_runs(args.runs, n_boot=args.bootstrap, n_perm=args.permutations, seed=args.seed)
    for i, result in enumerate(results):
        if i:
            print()
        print(comparison_text(result))
    for warning in dict.fromkeys(w for result in results for w in result.get("warnings", [])):  # once each
        print(f"causalnet compare: warning: {warning}", file=sys.stderr)
    if out is not None:
        from causalnet.report.compare import comparison_document
        from causalnet.report.document import write_document

        written = write_document(comparison_document(results), out)
        print(f"\nreport: {written['html'].resolve()}")
    return 0
