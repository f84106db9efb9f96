"""``causalnet review ANALYSIS_DIR``: the review page of an analysis in the browser (a local server)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``review`` sub-command."""
    p = subparsers.add_parser(
        "review",
        help="review an analysis in the browser: the recording in sync with the timeline; accept, reject, adjust "
             "and relabel intervals; save them as an annotations file",
        description=(
            "Serve the review page of an analysis folder of `causalnet analyze` on 127.0.0.1 (a random token in "
            "the URL; nothing outside the folder is served) and open it in the browser: the recording frame by "
            "frame, in slow motion, with an optical-flow overlay, in sync with a zoomable timeline (signal, "
            "threshold, intervals by class and confidence, blinks, head motion) and a table of the intervals. "
            "Save writes the accepted intervals to ANALYSIS_DIR/reviewed_annotations.csv (MEGC layout: read by "
            "analyze --annotations, spot-eval and preprocess --format generic). The first start makes "
            "ANALYSIS_DIR/review/ (a WebM copy of the recording, the signal, the flow overlays). See docs/review.md."
        ),
    )
    p.add_argument("analysis_dir", help="an output folder of `causalnet analyze`")
    p.add_argument("--recording", metavar="PATH", default=None,
                   help="the analysed video or frame folder (default: the one intervals.json names)")
    p.add_argument("--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default 0: any free port)")
    p.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    p.add_argument("--rebuild", action="store_true", help="make the review files again (review/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the page's files, serve them until interrupted."""
    import webbrowser

    from causalnet.checks import between, check_option
    from causalnet.spotting.review import ReviewServer, prepare_review

    check_option("--port", args.port, between(0, 65535))
    assets = prepare_review(args.analysis_dir, args.recording, args.rebuild)
    for what, reason in (("video", assets.video_missing), ("signal", assets.signal_missing),
                         ("flow overlay", assets.flow_missing)):
        if reason:
            print(f"no {what}: {reason}")
    server = ReviewServer(assets, args.port)
    print(f"review page of {assets.folder.resolve()}: {server.url}", flush=True)
    print("(only this machine can open it; Ctrl-C stops the server)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.close()
    return 0
