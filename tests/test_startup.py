"""Start-up cost: building the command line (every `causalnet ...` call does) loads no heavy library.

A sub-command's ``register`` that reads a constant from a module importing scikit-learn, SciPy, matplotlib
or torch made every command, ``--help`` included, pay seconds of imports (``compare`` did, through
``causalnet.report``). The class is tested, not the instance: the whole parser, every sub-command.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "scipy", "matplotlib", "pandas", "ray", "jinja2")


def test_building_the_parser_imports_no_heavy_library():
    code = ("import sys; from causalnet.cli import build_parser; build_parser(); "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [], f"building the parser imported {out}"


def test_report_exports_resolve_lazily():
    import causalnet.report as report

    assert set(report.__all__) <= set(dir(report))
    for name in report.__all__:
        assert getattr(report, name) is not None
