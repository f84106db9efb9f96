"""Reports researchers read: one self-contained HTML file per run folder, and paired comparisons.

- :mod:`~causalnet.report.runs` — run folders (train, robustness, sweep, released weights) and their
  predictions as arrays.
- :mod:`~causalnet.report.folds` — what a train run's fold files add: every protocol, learning
  curves, chosen epochs, stored features.
- :mod:`~causalnet.report.attention` — CMPLM attention (forward hooks), gradient saliency, features.
- :mod:`~causalnet.report.embedding` — PCA + t-SNE.
- :mod:`~causalnet.report.figures` — the figures (matplotlib, no pyplot state).
- :mod:`~causalnet.report.document` — sections, tables, figures and their Jinja2 rendering.
- :mod:`~causalnet.report.build` — :func:`build_report`: the sections a folder's files allow.
- :mod:`~causalnet.report.robustness_report` — the sections of a robustness run folder.
- :mod:`~causalnet.report.tables` — metrics tables in percent, shared by the sections.
- :mod:`~causalnet.report.stats` and :mod:`~causalnet.report.compare` — paired bootstrap over subjects,
  permutation test, seed spread; ``causalnet compare``.

>>> from causalnet.report import build_report, write_document
>>> doc = build_report("runs/compact")                    # doctest: +SKIP
>>> write_document(doc, "runs/compact/report.html")       # doctest: +SKIP

Exports are imported lazily (:mod:`causalnet._lazy`): a command-line parser that reads a constant of
:mod:`~causalnet.report.stats` does not import scikit-learn, SciPy or matplotlib.
"""

from causalnet._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("ReportOptions", "build_report"), "build"),
    **dict.fromkeys(("compare_runs", "comparison_text"), "compare"),
    **dict.fromkeys(("Document", "render_html", "write_document"), "document"),
    **dict.fromkeys(("RunFolder", "open_run"), "runs"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
