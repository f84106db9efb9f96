"""Fuzz-style robustness: random bytes, random CSV rows and random ``--set`` values end in a clean error
(a ValueError / FileNotFoundError, which the command line prints as one line with exit status 1) or in a
valid result. Seeded and small (a few seconds), so it runs in CI on every change."""

from __future__ import annotations

import csv
import io
import json
import random
import string
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.checks import path_part_problem
from causalnet.cli import main
from causalnet.data.builders import read_plan
from causalnet.data.builders.tables import read_rows
from causalnet.data.composite import CSV_NAME, read_image, read_index
from causalnet.io import read_json
from causalnet.models.checkpoint import load_checkpoint, read_checkpoint_metadata

CLEAN = (ValueError, FileNotFoundError)
SEED = 20261122

UNICODE = "aZ09_-. é漢字😀\u200b\u202e\x00\x01\x7f\n\r\t/\\:;,\"'|*?<>%$~"
NUMBERS = ["0", "-1", "1.5", "1e999", "-1e999", "nan", "inf", "9" * 400, "1e-400", "0x10", "3.0", "2", "007", " 1 "]


def _text(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(UNICODE) for _ in range(rng.randint(0, n)))


def _value(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return rng.choice(NUMBERS)
    if kind < 0.6:
        return ",".join(rng.choice(NUMBERS) for _ in range(rng.randint(0, 5)))
    if kind < 0.7:
        return rng.choice(["true", "false", "none", "null", "", "[]", "{}", '"x"', "[1, [2]]", '{"a": 1}'])
    return _text(rng)


# ---------------------------------------------------------------- images


def _png_variants(rng: random.Random) -> bytes:
    """Random bytes, a truncated or bit-flipped PNG, or a valid PNG of a random shape, depth and channels."""
    shape = rng.choice([(28, 28), (28, 28, 1), (28, 28, 2), (28, 28, 3), (28, 28, 4), (1, 1, 3), (32, 28, 3)])
    dtype = rng.choice([np.uint8, np.uint16])
    img = np.random.default_rng(rng.randrange(2**32)).integers(0, 200, size=shape).astype(dtype)
    if img.ndim == 3 and img.shape[2] == 2:
        img = img[..., 0]
    ok, buf = cv2.imencode(".png", img)
    data = buf.tobytes()
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    if kind == 1:
        return data[: rng.randint(0, len(data))]
    if kind == 2:
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return data


def test_random_png_bytes_are_read_or_refused_cleanly(tmp_path):
    rng = random.Random(SEED)
    accepted = 0
    for i in range(120):
        path = tmp_path / f"img{i} .png"
        path.write_bytes(_png_variants(rng))
        try:
            img = read_image(path)
        except CLEAN as exc:
            assert str(path) in str(exc)
            continue
        assert img.shape == (28, 28, 3) and img.dtype == np.uint8
        accepted += 1
    assert 0 < accepted < 120  # both outcomes occurred


# ---------------------------------------------------------------- the clip CSV


def _random_csv(rng: random.Random) -> bytes:
    columns = ["dataset", "sub", "filename_o", "label"]
    if rng.random() < 0.15:
        columns = rng.sample(columns + [_text(rng, 5)], k=rng.randint(1, 4))
    if rng.random() < 0.3:
        columns.append(_text(rng, 6))
    delimiter = rng.choice([",", ",", ",", ";", "\t"])
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer.writerow(columns)
    for k in range(rng.randint(0, 5)):
        row = []
        for col in columns:
            if rng.random() < 0.93:  # mostly plausible values, so that some files are valid
                row.append({"label": rng.choice(["0", "1", "2", "1.0"]), "dataset": "casme2", "sub": f"s{k}",
                            "filename_o": rng.choice(["EP02_01f", "a b", "x"])}.get(col, _text(rng)))
            elif col == "label":
                row.append(rng.choice(["3", "-1", "1.5"] + NUMBERS))
            else:
                row.append(_text(rng))
        if rng.random() < 0.2:
            row = row[: rng.randint(0, len(row))] + [_text(rng)] * rng.randint(0, 2)  # ragged
        writer.writerow(row)
    text = buf.getvalue()
    encoding = rng.choice(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"])
    data = text.encode(encoding, errors="replace" if encoding == "latin-1" else "surrogatepass")
    if rng.random() < 0.1:
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    return data


def test_random_clip_csvs_are_read_or_refused_cleanly(tmp_path):
    rng = random.Random(SEED + 1)
    outcomes = {"ok": 0, "error": 0}
    for i in range(200):
        root = tmp_path / f"d{i}"
        root.mkdir()
        (root / CSV_NAME).write_bytes(_random_csv(rng))
        try:
            rows = read_index(root)
        except CLEAN as exc:
            assert "\n" not in str(exc) and CSV_NAME in str(exc)
            outcomes["error"] += 1
            continue
        outcomes["ok"] += 1
        for row in rows:  # a valid result: every name a safe path part, every label a class index
            assert all(path_part_problem(row[c]) is None for c in ("dataset", "sub", "filename_o"))
            assert row["label"] in {"0", "1", "2"}
        keys = [(r["sub"], r["filename_o"]) for r in rows]
        assert len(keys) == len(set(keys))
    assert outcomes["ok"] and outcomes["error"]


# ---------------------------------------------------------------- annotation files of the raw layouts


def _random_annotations(rng: random.Random, path: Path) -> None:
    kind = rng.randrange(4)
    if kind == 0:  # random bytes under a table name
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 400))))
        return
    rows = [["dataset", "subject", "clip", "onset", "apex", "offset", "label", "fps"]]
    for _ in range(rng.randint(0, 6)):
        rows.append([rng.choice(["", "generic", _text(rng, 4)]), rng.choice(["a", "b", "..", "../x", _text(rng, 6)]),
                     rng.choice(["c1", "c2", "x/y", _text(rng, 6)]), rng.choice(["0", "1", *NUMBERS]),
                     rng.choice(["", "2", *NUMBERS]), rng.choice(["4", *NUMBERS]),
                     rng.choice(["0", "1", "2", "9", "happiness", "hapiness", "others", _text(rng, 6)]),
                     rng.choice(["", "100", *NUMBERS])])
    if kind == 1:
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8", errors="surrogatepass")
    elif kind == 2:  # a zip that is not quite a workbook
        with zipfile.ZipFile(path.with_suffix(".xlsx"), "w") as zf:
            zf.writestr("xl/worksheets/sheet1.xml", rng.choice(["<worksheet/>", "<not xml", "<a><b></a>"]))
        path.with_suffix(".xlsx").replace(path)
    else:
        path.write_text("\n".join(";".join(r) for r in rows), encoding="latin-1", errors="replace")


def test_random_annotation_files_give_a_plan_or_a_clean_error(tmp_path):
    rng = random.Random(SEED + 2)
    outcomes = {"ok": 0, "error": 0}
    for i in range(80):
        raw = tmp_path / f"raw{i}"
        for sub, clip in (("a", "c1"), ("b", "c2")):
            (raw / "frames" / sub / clip).mkdir(parents=True)
            for k in range(5):
                cv2.imwrite(str(raw / "frames" / sub / clip / f"{k}.png"), np.zeros((8, 8, 3), np.uint8))
        _random_annotations(rng, raw / "annotations.csv")
        try:
            plan = read_plan("generic", raw, skip_unknown_labels=rng.random() < 0.5)
        except CLEAN as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
            continue
        outcomes["ok"] += 1
        for clip in plan.clips:
            assert clip.frames_dir.resolve().is_relative_to(raw.resolve())
            assert all(path_part_problem(n) is None for n in (clip.dataset, clip.sub, clip.filename_o))
    assert outcomes["ok"] and outcomes["error"]


def test_random_workbooks_are_read_or_refused_cleanly(tmp_path):
    rng = random.Random(SEED + 3)
    for i in range(40):
        path = tmp_path / f"t{i}.xlsx"
        with zipfile.ZipFile(path, "w") as zf:
            for part in rng.sample(["xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml",
                                    "xl/worksheets/sheet1.xml"], k=rng.randint(0, 4)):
                zf.writestr(part, rng.choice(["<a/>", "<<<", "", '<worksheet><sheetData><row r="x"><c r="A1" t="s">'
                                              '<v>99</v></c></row></sheetData></worksheet>', _text(rng)]))
        if rng.random() < 0.3:
            path.write_bytes(path.read_bytes()[: rng.randint(0, 200)])
        try:
            rows = read_rows(path)
        except CLEAN:
            continue
        assert isinstance(rows, list)


# ---------------------------------------------------------------- JSON and checkpoint-like files


def _safetensors_bytes(rng: random.Random) -> bytes:
    """A syntactically valid safetensors file with random metadata (and one tiny tensor)."""
    meta = {k: rng.choice(["causalnet-checkpoint-v1", "causalnet", "htnet", "{}", "[]", "null", '{"dim": 0}',
                           '{"dim": "abc"}', json.dumps({"dim": 10**9}), _text(rng)])
            for k in rng.sample(["format", "model", "config", "extra"], k=rng.randint(0, 4))}
    if rng.random() < 0.5:
        meta["format"] = "causalnet-checkpoint-v1"
    header = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": meta}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"\x00\x00\x80\x3f"


def _random_file(rng: random.Random, path: Path) -> Path:
    kind = rng.randrange(3)
    if kind == 0:
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
    elif kind == 1:
        path.write_bytes(zlib.compress(_text(rng).encode("utf-8", "surrogatepass")))
    else:
        path.write_bytes(_safetensors_bytes(rng))
    return path


def test_random_json_files_are_refused_cleanly(tmp_path):
    rng = random.Random(SEED + 4)
    for i in range(60):
        path = _random_file(rng, tmp_path / f"f{i}.json")
        try:
            read_json(path)  # a few random byte strings are valid JSON
        except ValueError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)


def test_random_checkpoint_files_are_refused_cleanly(tmp_path):
    rng = random.Random(SEED + 4)
    for i in range(60):
        path = _random_file(rng, tmp_path / f"f{i}.safetensors")
        for loader in (read_checkpoint_metadata, load_checkpoint):
            try:
                loader(path)
            except CLEAN as exc:
                assert "\n" not in str(exc).strip()


# ---------------------------------------------------------------- random --set values through the CLI

TRAIN_KEYS = ["train.epochs", "train.lr", "train.batch_size", "train.members", "train.seed", "train.mirror",
              "train.schedule", "train.shift", "model.dim", "model.depths", "model.heads", "model.gamma",
              "model.dropout", "model.head_hidden", "model.cmplm_depth", "model.image_size", "model.patch_size",
              "model.token_grid", "epochs", "dim", "nope", "model.nope", "train.", ".x", "model.PRESETS"]
PREP_KEYS = ["face_size", "tvl1_warps", "tvl1_median_filtering", "eye_row", "face_method", "out_size",
             "resize_interpolation", "landmark_model", "nope"]
SYNTH_KEYS = ["n_subjects", "image_size", "fps", "dataset", "class_weights", "rise_s", "noise_sigma", "nope"]


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors: exit 2 with a usage line
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("command", "keys"), [
    (["train", "--data", "{tmp}/nowhere", "--out", "{tmp}/run"], TRAIN_KEYS),
    (["preprocess", "--raw", "{tmp}/nowhere", "--format", "generic", "--out", "{tmp}/o"], PREP_KEYS),
    (["synth", "--out", "{tmp}/o", "--set", "n_subjects=0"], SYNTH_KEYS),  # always refused: never generates
])
def test_random_set_values_end_in_one_line_and_exit_1(tmp_path, capsys, command, keys):
    rng = random.Random(SEED + len(command))
    argv0 = [part.format(tmp=tmp_path) for part in command]
    for _ in range(60):
        settings = []
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(keys) if rng.random() < 0.85 else _text(rng, 6).lstrip("-")
            settings.append(f"{key}={_value(rng)}")
        code, err = _run(capsys, [*argv0, "--set", *settings])
        assert code in (1, 2), (settings, code)
        assert "Traceback" not in err
        if code == 1:
            assert len(err.strip().splitlines()) == 1 and err.startswith(f"causalnet {command[0]}: error: "), err
    assert not list(tmp_path.iterdir())  # nothing was written


def test_random_option_values_end_in_one_line(tmp_path, capsys):
    rng = random.Random(SEED + 5)
    for _ in range(30):
        option = rng.choice(["--workers", "--epochs", "--seed", "--runs", "--size", "--subjects"])
        value = rng.choice(["0", "-1", "1", "10**9", str(2**70), "abc", ""])
        command = rng.choice([["synth", "--out", str(tmp_path / "o"), "--set", "n_subjects=0"],
                              ["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")],
                              ["preprocess", "--raw", str(tmp_path / "no"), "--format", "generic",
                               "--out", str(tmp_path / "o")]])
        code, err = _run(capsys, [*command, option, value])
        assert code in (1, 2) and "Traceback" not in err, (command, option, value, err)
    assert not list(tmp_path.iterdir())


def test_fuzz_helpers_produce_variety():
    rng = random.Random(SEED)
    values = {_value(rng) for _ in range(200)}
    assert len(values) > 50 and any(set(v) & set(string.ascii_letters) for v in values)
