"""``causalnet review`` in a real browser: Debian's Chromium driven by Playwright (never ``playwright install``).

An analysis of the known recording (``causalnet analyze --face none``, a small untrained model so that the
intervals have classes and confidences), reviewed with ``--recording`` pointing to a copy whose frames carry
their own index as a binary code: the test reads the code off the video the page shows and checks that the
frame the page says it shows, the timeline's cursor and the picture agree. Then it edits intervals (onset,
apex from the frame shown, label, accept, reject), saves, and reads the file back with ``read_annotations``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from causalnet.cli import main
from causalnet.data.annotations import read_annotations

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
# the rule spotter with the known recording's eye boxes: the page is under test, not the spotter (on this low-noise
# scene the learned default finds fewer intervals: docs/spotting.md)
SPOT = ["--spot-preset", "classic", "--face", "none", "--fps", "100", "--set", "eye_row=0.35", "--set",
        "eye_distance=0.36", "--no-progress"]
BITS, CELL, CODE_ROWS = 10, 9, 10  # the frame-index code: 10 cells of 9 px at the bottom of the 96-px frames



def sync_playwright():
    """Playwright's entry point, or a skip naming what is missing (Chromium, the package)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install -y chromium; "
                    ".ci/run installs it)")
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    return api.sync_playwright()


def stamp(frame: np.ndarray, index: int) -> np.ndarray:
    """``frame`` with ``index`` written as black/white cells in its bottom rows (bit 0 on the left)."""
    out = frame.copy()
    for b in range(BITS):
        out[-CODE_ROWS:, b * CELL:(b + 1) * CELL] = 255 if index >> b & 1 else 0
    return out


# reads the code back from the video element (drawn on a canvas): the frame the picture is
READ_CODE = """([rowFromBottom, bits, cell]) => {
  const v = document.getElementById('video');
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(v, 0, 0);
  const row = ctx.getImageData(0, v.videoHeight - rowFromBottom, v.videoWidth, 1).data;
  let code = 0;
  for (let b = 0; b < bits; b++) if (row[(b * cell + Math.floor(cell / 2)) * 4] > 128) code |= 1 << b;
  return code;
}"""


@pytest.fixture(scope="module")
def analysis(tmp_path_factory, known_recording) -> tuple[Path, Path]:
    """(the analysis folder, the stamped copy of the recording)."""
    models = pytest.importorskip("causalnet.models")
    _, frames = known_recording
    root = tmp_path_factory.mktemp("review")
    plain, stamped = root / "frames" / "s1" / "v1", root / "stamped"
    plain.mkdir(parents=True)
    stamped.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(plain / f"img{i + 1}.png"), f)
        cv2.imwrite(str(stamped / f"img{i + 1}.png"), stamp(f, i))
    ckpt = root / "model.safetensors"
    models.save_checkpoint(ckpt, models.CausalNet(models.CausalNetConfig.preset("compact")),
                           extra={"class_names": ["negative", "positive", "surprise"]})
    out = root / "an"
    assert main(["analyze", "--frames", str(plain), "--checkpoint", str(ckpt), "--out", str(out), "--tta", "1",
                 *SPOT]) == 0
    return out, stamped


@pytest.fixture(scope="module")
def server(analysis):
    """``causalnet review AN --recording STAMPED --no-browser`` in a child process; its URL."""
    out, stamped = analysis
    proc = subprocess.Popen([sys.executable, "-m", "causalnet", "review", str(out), "--recording", str(stamped),
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/\S+/)", line)
            url = found.group(1) if found else None
        assert url, "causalnet review printed no URL:\n" + "".join(lines)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(url: str, path: str, host: str | None = None) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_the_server_needs_the_token_and_serves_only_its_files(server):
    parts = urlsplit(server)
    token = parts.path.strip("/")
    assert _get(server, f"/{token}/api/analysis") == 200
    assert _get(server, "/") == 403
    assert _get(server, "/api/analysis") == 403
    assert _get(server, f"/{token[:-1]}x/api/analysis") == 403
    assert _get(server, f"/{token}/api/analysis", host="evil.example:80") == 403  # DNS rebinding
    for path in ("intervals.json", "../intervals.json", "..%2Fintervals.json", "review/state.json", "flow/99",
                 "flow/../../intervals.json", "/etc/passwd"):
        assert _get(server, f"/{token}/{path}") == 404, path
    assert _get(server, f"/{token}/../{token}/etc/passwd") in (403, 404)


def _frame_agrees(page, k: int) -> None:
    page.wait_for_function(f"() => document.getElementById('frame-shown').dataset.frame === '{k}'",
                           timeout=10000)
    cursor = page.eval_on_selector("#timeline", "c => Number(c.dataset.cursor)")
    assert cursor == k
    assert page.evaluate(READ_CODE, [CODE_ROWS // 2, BITS, CELL]) == k, f"the video shows another frame than {k}"
    text = page.text_content("#frame-shown")
    assert text.startswith(f"frame {k} /") and f"{k / 100:.3f} s" in text


def test_review_page_in_chromium(server, analysis):
    out, _ = analysis
    (out / "reviewed_annotations.csv").unlink(missing_ok=True)
    (out / "review" / "state.json").unlink(missing_ok=True)  # a fresh review
    doc = json.loads((out / "intervals.json").read_text())
    spotted = doc["intervals"]
    assert [r["type"] for r in spotted][:3] == ["micro"] * 3
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server)
            page.wait_for_selector("body[data-ready='1']", timeout=15000)
            page.wait_for_function("() => document.getElementById('video').readyState >= 2", timeout=15000)
            assert "s1 / v1" in page.text_content("#title")
            assert "signal.csv" in page.text_content("#signal-note")  # written by analyze, not recomputed
            legend = page.text_content("#legend")
            for word in ("signal", "threshold", "negative", "positive", "surprise", "blink", "head motion"):
                assert word in legend

            # the video and the timeline agree: typed frames, stepping, a click on the timeline
            for k in (0, 92, 343, 657, 879, 216):
                page.fill("#goto", str(k))
                page.press("#goto", "Enter")
                _frame_agrees(page, k)
            page.click("#step-fwd")
            _frame_agrees(page, 217)
            page.click("#step-back")
            page.click("#step-back")
            _frame_agrees(page, 215)
            page.click("#fwd10")
            _frame_agrees(page, 225)
            x = page.evaluate("() => review.frameToX(230.5)")  # the middle of frame 230 (inside the border)
            page.locator("#timeline").click(position={"x": x, "y": 40})
            page.wait_for_function("() => document.getElementById('frame-shown').dataset.frame !== '225'")
            clicked = int(page.get_attribute("#frame-shown", "data-frame"))
            assert abs(clicked - 230) <= 1  # mouse positions are whole pixels, a frame about one here
            _frame_agrees(page, clicked)
            page.click("#zoom-in")
            page.click("#zoom-fit")
            assert page.eval_on_selector("#timeline", "c => [Number(c.dataset.f0), Number(c.dataset.f1)]") == [0, 880]

            # slow motion: plays at a quarter of real time, frames advance, then pause
            page.select_option("#speed", "0.25")
            page.click("#play")
            page.wait_for_function("() => Number(document.getElementById('frame-shown').dataset.frame) > 240",
                                   timeout=10000)
            assert page.evaluate("() => document.getElementById('video').playbackRate") == 0.25
            page.click("#play")
            page.wait_for_function("() => document.getElementById('video').paused")

            # the flow overlay within a spotted interval
            assert not page.is_disabled("#flow-toggle")
            page.check("#flow-toggle")
            page.fill("#goto", "92")
            page.press("#goto", "Enter")
            _frame_agrees(page, 92)
            page.wait_for_function("""() => { const c = document.getElementById('overlay');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; }""", timeout=10000)

            # edits: #1 onset one frame earlier and accepted; #2 apex from the frame shown, relabelled, accepted;
            # #3 rejected; the macro interval is left unreviewed
            row = "#intervals tr[data-key='{}']"
            first, second = spotted[0], spotted[1]
            page.fill(f"{row.format(0)} input.onset", str(first["onset"] - 1))
            page.press(f"{row.format(0)} input.onset", "Enter")
            page.click(f"{row.format(0)} button.accept")
            page.fill("#goto", str(second["apex"] + 2))
            page.press("#goto", "Enter")
            _frame_agrees(page, second["apex"] + 2)
            page.click(f"{row.format(1)} button.set-apex")
            page.select_option(f"{row.format(1)} select.label", "1")
            page.click(f"{row.format(1)} button.accept")
            page.click(f"{row.format(2)} button.reject")
            # an impossible edit is refused with a message, nothing changes
            page.fill(f"{row.format(0)} input.offset", str(first["onset"] - 5))
            page.press(f"{row.format(0)} input.offset", "Enter")
            assert "not changed" in page.text_content("#error")
            assert page.input_value(f"{row.format(0)} input.offset") == str(first["offset"])
            assert "2 accepted, 1 rejected, 1 not reviewed" in page.text_content("#counts")
            page.click("#save")
            page.wait_for_selector("#save-status[data-saved='ok']", timeout=10000)
            assert "saved 2 accepted interval(s)" in page.text_content("#save-status")
            page.reload()  # a review opened again continues where it was saved
            page.wait_for_selector("body[data-ready='1']", timeout=15000)
            assert "2 accepted, 1 rejected, 1 not reviewed" in page.text_content("#counts")
            assert page.input_value(f"{row.format(0)} input.onset") == str(first["onset"] - 1)
            assert page.input_value(f"{row.format(1)} select.label") == "1"
            assert errors == []
        finally:
            browser.close()

    saved = read_annotations(out / "reviewed_annotations.csv")
    assert [(i.subject, i.video, i.onset, i.apex, i.offset, i.type) for i in saved] == [
        ("s1", "v1", first["onset"] - 1, first["apex"], first["offset"], "micro"),
        ("s1", "v1", second["onset"], second["apex"] + 2, second["offset"], "micro")]
    assert saved[0].label == (first["label"] if first["label"] != "" else None) and saved[1].label == 1
    state = json.loads((out / "review" / "state.json").read_text())
    assert sorted(i["status"] for i in state["items"]) == ["accepted", "accepted", "pending", "rejected"]


def _post(url: str, body: bytes, ctype: str = "application/json") -> tuple[int, dict]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", parts.path + "api/save", body=body, headers={"Content-Type": ctype})
    response = conn.getresponse()
    status, text = response.status, response.read()
    conn.close()
    return status, json.loads(text) if text.startswith(b"{") else {}


def test_a_save_is_validated_before_anything_is_written(server, analysis):
    out, _ = analysis
    target = out / "reviewed_annotations.csv"
    before = target.read_bytes() if target.exists() else None
    item = {"id": 0, "onset": 10, "apex": 12, "offset": 14, "type": "micro", "label": 2, "status": "accepted"}
    bad = [({**item, "offset": 880}, "last frame"), ({**item, "apex": 9}, "onset <= apex"),
           ({**item, "onset": "10"}, "integer"), ({**item, "type": "mega"}, "type"),
           ({**item, "label": 3}, "class index 0..2"), ({**item, "status": "maybe"}, "status")]
    for wrong, message in bad:
        status, answer = _post(server, json.dumps({"items": [wrong]}).encode())
        assert status == 400 and message in answer["error"], (wrong, answer)
    assert _post(server, b"{not json")[0] == 400
    assert _post(server, json.dumps({"items": [item]}).encode(), "text/plain")[0] == 415
    assert (target.read_bytes() if target.exists() else None) == before
    status, answer = _post(server, json.dumps({"items": [item, {**item, "status": "rejected"}]}).encode())
    assert status == 200 and answer["written"] == 1 and answer["rejected"] == 1
    assert [(i.onset, i.apex, i.offset, i.label) for i in read_annotations(target)] == [(10, 12, 14, 2)]


def test_without_the_recording_the_page_says_what_is_missing(analysis, tmp_path):
    from causalnet.spotting.review import analysis_payload, prepare_review

    out, _ = analysis
    moved = tmp_path / "an"
    moved.mkdir()
    doc = json.loads((out / "intervals.json").read_text())
    (moved / "intervals.json").write_text(json.dumps({**doc, "source": str(tmp_path / "gone")}))
    payload = analysis_payload(prepare_review(moved))
    assert payload["media"] is None and "--recording" in payload["media_missing"]
    assert payload["signal"] is None and "signal.csv" in payload["signal_missing"]
    assert payload["flows"] == [] and len(payload["intervals"]) == len(doc["intervals"])
    (moved / "link").symlink_to(out / "intervals.json")
    with pytest.raises(ValueError, match="symbolic link"):
        prepare_review(moved)
