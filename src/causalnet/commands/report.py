"""``causalnet report``: one self-contained HTML report (and PNG figures) of a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report",
        help="HTML report of a run folder: tables per protocol, confusion matrices, per-subject results, "
             "learning curves, t-SNE, inputs, attention",
        description=(
            "Write one self-contained HTML file (figures embedded, opens offline, no JavaScript) for a run folder of "
            "`causalnet train`, `robustness`, `sweep` or `convert`, plus every figure as a PNG in <name>_figures/ "
            "and the numbers in <name>.json. Each section appears when the folder holds its inputs: fold files "
            "(every protocol, learning curves), features (t-SNE; `train --save-features`, or computed from "
            "`--checkpoints`), checkpoints and the data folder (inputs, attention, saliency). See docs/reports.md."
        ),
    )
    p.add_argument("run_dir", help="a run folder")
    p.add_argument("--out", metavar="FILE.html", help="output HTML (default: RUN_DIR/report.html)")
    p.add_argument("--figures-only", action="store_true", help="write the PNG figures (and the JSON), not the HTML")
    p.add_argument("--no-model", action="store_true",
                   help="do not load checkpoints (no attention, saliency, or features computed from checkpoints)")
    p.add_argument("--examples", type=int, default=6, metavar="N", help="test clips shown with their inputs")
    p.add_argument("--tsne-seed", type=int, default=0, help="seed of the t-SNE layout")
    p.set_defaults(func=run)


#: Most test clips shown with their inputs (each one is a figure).
MAX_EXAMPLES = 100
#: Files of a run folder a report reads (besides fold files and checkpoints).
RUN_FILES = ("config.json", "metrics.json", "results.json", "predictions.csv", "candidates.csv", "candidates.md",
             "chosen.csv", "table.md")


def run_inputs(run_dir: Path) -> list[tuple[str, Path]]:
    """``(what, path)`` of the run folder and the files of it a report reads, for
    :func:`causalnet.checks.check_outputs_apart`."""
    return [("the run folder", run_dir), *((f"the run's {name}", run_dir / name) for name in RUN_FILES)]


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from causalnet.checks import between, check_option, check_outputs_apart
    from causalnet.report import ReportOptions, build_report, write_document
    from causalnet.report.document import check_html_path, report_outputs

    torch.set_num_threads(1)  # the model work is a few clips: extra threads only contend on shared cores
    t0 = time.perf_counter()
    out = check_html_path(args.out or Path(args.run_dir) / "report.html")
    check_outputs_apart(report_outputs(out), run_inputs(Path(args.run_dir)))
    check_option("--examples", args.examples, between(0, MAX_EXAMPLES))
    options = ReportOptions(model=not args.no_model, examples=args.examples, tsne_seed=args.tsne_seed)
    doc = build_report(args.run_dir, options)
    written = write_document(doc, out, figures_only=args.figures_only)
    print(f"{doc.data['kind']} run: {len(doc.sections)} sections, {len(written['figures'])} figures "
          f"({time.perf_counter() - t0:.1f} s)")
    if written["html"]:
        print(f"report:  {written['html'].resolve()}")
    print(f"figures: {written['figures'][0].parent.resolve() if written['figures'] else '(none)'}")
    print(f"numbers: {written['json'].resolve()}")
    return 0
