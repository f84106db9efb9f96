"""Issue 32, class 1 and 6: a shared run folder cannot reach outside itself, and a resumed run notices
changed data.

The symlink fuzz test plants a link at every path that the run-folder store, its lock and log, the
report writer and the preprocess writer use, points it at a victim folder outside, runs the command,
and asserts that the command fails with an error naming the link and that nothing outside changed."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from causalnet.cli import main
from causalnet.folders import Manifest, file_lock, find_symlinks
from conftest import write_fake_composite

SETS = ["model.dim=8", "model.head_hidden=16", "train.lr=3e-3", "train.members=1", "train.member_validation=false",
        "train.batch_size=16", "train.mirror=false", "train.mirror_tta=false"]
SUBJECTS = "sub01,s01,006"


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (links not followed) with its content hash and mode."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*filenames, *dirnames]:
            path = Path(dirpath) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                out[key] = "link:" + os.readlink(path)
            elif path.is_file():
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest() + oct(path.stat().st_mode)
            else:
                out[key] = "dir"
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, a finished 3-subject run with fold checkpoints and a report)."""
    root = tmp_path_factory.mktemp("contain")
    data = write_fake_composite(root / "data", {"sub01": "casme2", "sub02": "casme2", "s01": "smic", "s02": "smic",
                                                "006": "samm", "007": "samm"})
    run = root / "RUN"
    assert main(["train", "--data", str(data), "--subjects", SUBJECTS, "--epochs", "1", "--protocol", "fixed",
                 "--no-progress", "--workers", "1",
                 "--out", str(run), "--set", *SETS]) == 0
    return data, run


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "a.txt").write_text("precious\n")
    (victim / "keep.png").write_bytes(b"\x89PNG not mine")
    (victim / "sub" / "b.npz").write_bytes(b"mine")
    return victim


# (path inside the run folder, link target inside the victim, a file to delete first so the run must resume)
TRAIN_PLANTS = [
    (".lock", "a.txt", None),
    ("run.log", "a.txt", "folds/run0/s01.npz"),
    ("folds/run0", ".", "folds/run0/s01.npz"),
    ("folds/run0/s01.npz", "sub/b.npz", "folds/run0/s01.npz"),
    ("config.json", "a.txt", None),
    ("predictions.csv", "a.txt", None),
]


@pytest.mark.parametrize(("inside", "target", "delete"), TRAIN_PLANTS, ids=[p[0] for p in TRAIN_PLANTS])
def test_train_into_a_shared_folder_never_writes_through_a_planted_link(finished, tmp_path, capsys, inside, target,
                                                                         delete):
    data, run = finished
    shared = tmp_path / "shared"
    shutil.copytree(run, shared)
    victim = _victim(tmp_path)
    if delete:
        (shared / delete).unlink()
    link = shared / inside
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim / target)
    before = _snapshot(victim)
    code = main(["train", "--data", str(data), "--subjects", SUBJECTS, "--epochs", "1", "--protocol", "fixed",
                 "--no-progress", "--workers", "1",
                 "--out", str(shared), "--set", *SETS])
    assert _snapshot(victim) == before  # nothing outside the folder changed
    assert code == 1
    err = capsys.readouterr().err
    assert "symbolic link" in err and Path(inside).name in err, err


REPORT_PLANTS = [("report_figures", "."), ("report_figures/confusion.png", "keep.png"), ("report.json", "a.txt")]


@pytest.mark.parametrize(("inside", "target"), REPORT_PLANTS, ids=[p[0] for p in REPORT_PLANTS])
def test_report_never_writes_or_deletes_through_a_planted_link(finished, tmp_path, capsys, inside, target):
    _, run = finished
    shared = tmp_path / "shared"
    shutil.copytree(run, shared)
    victim = _victim(tmp_path)
    link = shared / inside
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim / target)
    before = _snapshot(victim)
    assert main(["report", str(shared), "--no-model", "--examples", "1"]) == 1
    assert _snapshot(victim) == before
    assert Path(inside).name in capsys.readouterr().err  # refused, naming the planted file


def test_report_removes_only_the_figures_it_wrote(finished, tmp_path):
    _, run = finished
    shared = tmp_path / "shared"
    shutil.copytree(run, shared)
    figures = shared / "report_figures"
    figures.mkdir()
    (figures / "holiday.png").write_bytes(b"someone else's")
    assert main(["report", str(shared), "--no-model", "--examples", "1"]) == 0
    written = set(Manifest(figures).names())
    assert written and "holiday.png" not in written
    (figures / "stale.png").write_bytes(b"old")
    Manifest(figures).record(["stale.png"])  # as if an earlier report had written it
    assert main(["report", str(shared), "--no-model", "--examples", "1"]) == 0
    assert (figures / "holiday.png").read_bytes() == b"someone else's"  # never deleted by glob
    assert not (figures / "stale.png").exists()  # ours, no longer part of the report


def test_preprocess_refuses_an_output_folder_holding_a_link(tmp_path, capsys):
    raw = tmp_path / "raw"
    assert main(["synth", "--num-subjects", "2", "--clips-per-subject", "1", "--size", "64", "--out", str(raw),
                 "--no-progress"]) == 0
    out = tmp_path / "of"
    out.mkdir()
    victim = _victim(tmp_path)
    (out / "STSNet_whole_norm_u_v_os").symlink_to(victim, target_is_directory=True)
    before = _snapshot(victim)
    assert main(["preprocess", "--raw", str(raw), "--format", "generic", "--face", "none", "--out", str(out),
                 "--workers", "1", "--no-progress"]) == 1
    assert _snapshot(victim) == before
    assert "symbolic link (STSNet_whole_norm_u_v_os)" in capsys.readouterr().err


def test_lock_and_link_primitives(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".lock").symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"), file_lock(tmp_path / "d" / ".lock"):
        pass
    assert target.read_text() == "x"
    assert find_symlinks(tmp_path / "d") == [tmp_path / "d" / ".lock"]


def test_a_resumed_run_refuses_changed_labels_naming_the_subject(finished, tmp_path, capsys):
    data, run = finished
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    shared = tmp_path / "RUN"
    shutil.copytree(run, shared)
    cfg = (shared / "config.json").read_text().replace(str(data), str(changed))
    (shared / "config.json").write_text(cfg)  # the same run, its data folder moved
    args = ["train", "--data", str(changed), "--subjects", SUBJECTS, "--epochs", "1", "--protocol", "fixed",
                 "--no-progress", "--workers", "1",
            "--out", str(shared), "--set", *SETS]
    assert main(args) == 0  # unchanged data: resumes (nothing to do)
    csv = changed / "combined_3_class2_for_optical_flow.csv"
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    col = next(i for i, h in enumerate(header) if "label" in h.lower() or "class" in h.lower())
    row = next(i for i, line in enumerate(lines[1:], 1) if line.split(",")[header.index("sub")] == "s02")
    cells = lines[row].split(",")
    cells[col] = str((int(cells[col]) + 1) % 3)
    lines[row] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "changed since this run started (labels of subject s02)" in err, err
