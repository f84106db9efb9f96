"""Refactors change no result: the compact preset's predictions on six composite folds and the demo's
metrics are bit-identical to those of a reference commit (issue 31: "results unchanged").

Usage::

    python benchmarks/identity.py --data ../shared/data/composite --out runs/identity [--skip-demo]

It runs, in fresh sub-folders of ``--out``, exactly::

    causalnet train --data DATA --preset compact --seed 2025 --subjects sub01,sub02,s01,s02,006,011 \
        --out OUT/compact6 --no-progress
    causalnet demo --out OUT/demo --no-progress

and compares the SHA-256 of ``compact6/predictions.csv``, ``compact6/metrics.json``,
``demo/run/predictions.csv`` and ``demo/run/metrics.json`` with the digests recorded below, which the
same commands gave at commit 246ffa3 (before the engine/train redesign) on the project's 2-core
machine (Intel Xeon Processor, 2026-12-07). Floating-point results can differ on another processor
model; rerun the commands at the reference commit there to get its digests (``--reference-out``
compares with a folder made that way instead). Prints one line per file and exits 1 on a difference.
About 3 minutes for the six folds and 2-5 minutes for the demo on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

#: SHA-256 of each file at commit 246ffa3 (2026-12-07, 2-core Intel Xeon Processor).
REFERENCE = {
    "compact6/predictions.csv": "036625054a9fd7e92413c370795e4403c9a8ab0bd7d1f3b700ba8656bb8184a9",
    "compact6/metrics.json": "c8552a996be99da18d844e285d4b252dc5f697a62b97767b8633bc88f9c06fd2",
    "demo/run/predictions.csv": "dadaea3b5ba121a6dd4a17a299cb16b284a83805438fadb905a1c0a28f20b0d8",
    "demo/run/metrics.json": "83a415c6bbec96d28dafa60134cd67dad23dcd2147991478b8e0531199702628",
}
SUBJECTS = "sub01,sub02,s01,s02,006,011"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "causalnet", *args], check=True)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/composite")
    p.add_argument("--out", required=True, help="a new folder (the runs go to OUT/compact6 and OUT/demo)")
    p.add_argument("--skip-demo", action="store_true", help="only the six composite folds")
    p.add_argument("--reference-out", help="compare with this folder's files instead of the recorded digests")
    args = p.parse_args()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        p.error(f"--out {out}: must be a new or empty folder (a resumed run would prove nothing)")
    seconds = _run(["train", "--data", args.data, "--preset", "compact", "--seed", "2025", "--subjects", SUBJECTS,
                    "--out", str(out / "compact6"), "--no-progress"])
    print(f"compact, 6 folds: {seconds:.0f} s")
    names = [n for n in REFERENCE if n.startswith("compact6")]
    if not args.skip_demo:
        seconds = _run(["demo", "--out", str(out / "demo"), "--no-progress"])
        print(f"demo: {seconds:.0f} s")
        names += [n for n in REFERENCE if n.startswith("demo")]
    different = 0
    for name in names:
        want = _sha256(Path(args.reference_out) / name) if args.reference_out else REFERENCE[name]
        got = _sha256(out / name)
        same = got == want
        different += not same
        print(f"{name}: {'identical' if same else 'DIFFERENT'} (sha256 {got[:16]}..., reference {want[:16]}...)")
    print("all identical" if not different else f"{different} file(s) differ")
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
