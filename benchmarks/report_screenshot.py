"""PNG screenshot of a report opened in a real headless browser (for docs/; not a CI dependency).

Usage: ``python benchmarks/report_screenshot.py REPORT.html --out docs/x.png [--width 1280] [--height 2400]``.

Needs Chromium (Debian: ``apt-get install -y chromium``); runs
``chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=W,H --screenshot=OUT file://...``
and checks that a PNG came out.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", help="the report to open")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=2400, help="page height captured (pixels)")
    args = ap.parse_args()
    html = Path(args.html).resolve()
    if not html.is_file():
        raise SystemExit(f"{html}: report not found")
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise SystemExit("no Chromium found; install it (Debian: apt-get install -y chromium)")
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={args.width},{args.height}", f"--screenshot={out}", html.as_uri()],
                   check=True, capture_output=True)
    if not out.is_file() or not out.read_bytes().startswith(b"\x89PNG"):
        raise SystemExit(f"{browser} wrote no PNG to {out}")
    print(f"{out} ({out.stat().st_size // 1024} KiB) from {html} opened in {browser}")


if __name__ == "__main__":
    main()
