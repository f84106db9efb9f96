"""``causalnet convert``: released ``<subject>.pth`` files -> checkpoints, and a folder of them -> a run folder."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import reference_naive as rn
from causalnet.cli import main
from causalnet.models import from_reference_state_dict, load_checkpoint

SMALL = dict(dim=16, depths=(1, 1, 2), classes=3, hidden=32)
SEEDS = {"sub01": 11, "s01": 12, "006": 13}  # three folds of the fake composite (6 subjects)


def small_state(seed: int) -> dict[str, torch.Tensor]:
    return rn.recipe_state_dict(seed, rn.reference_layout(**SMALL))


@pytest.fixture
def released(tmp_path):
    folder = tmp_path / "released"
    folder.mkdir()
    for subject, seed in SEEDS.items():
        torch.save(small_state(seed), folder / f"{subject}.pth")
    return folder


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_folder_of_subject_files_becomes_a_run_folder_that_evaluate_reads(released, fake_composite, tmp_path, capsys):
    from causalnet.data import load_composite

    run = tmp_path / "run"
    args = ["convert", "--reference", str(released), "--data", str(fake_composite), "--out", str(run), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "missing: 3 of 6 subjects" in out and "sub02, s02, 007" in out
    rows = read_rows(run / "predictions.csv")
    assert list(rows[0]) == ["run", "subject", "dataset", "clip", "label", "pred", "p0", "p1", "p2"]
    assert [r["subject"] for r in rows] == ["sub01"] * 3 + ["s01"] * 3 + ["006"] * 3
    clips = load_composite(fake_composite)
    for subject, seed in SEEDS.items():  # the probabilities are the reference function's
        mask = clips.subjects == subject
        naive = rn.reference_logits(small_state(seed), torch.from_numpy(clips.x[mask])).softmax(-1).numpy()
        got = np.array([[float(r[f"p{k}"]) for k in range(3)] for r in rows if r["subject"] == subject])
        np.testing.assert_allclose(got, naive, atol=2e-6)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"] == "released" and metrics["composite"]["n"] == 9
    assert metrics["missing_subjects"] == ["sub02", "s02", "007"]
    assert json.loads((run / "config.json").read_text())["experiment"]["protocol"] == "released"
    assert main(["evaluate", str(run), "--confusion"]) == 0
    printed = capsys.readouterr().out
    assert "protocol: released" in printed and "missing subjects (not evaluated): sub02, s02, 007" in printed
    assert json.loads((run / "metrics.json").read_text()) == metrics  # evaluate recomputes the same table
    assert main(["evaluate", str(run), "--protocol", "oracle"]) == 1
    assert "no epochs to re-select" in capsys.readouterr().err
    # a rerun reuses the finished subjects (their results are kept per subject)
    stamp = (run / "released" / "sub01.npz").stat().st_mtime_ns
    assert main(args) == 0
    assert (run / "released" / "sub01.npz").stat().st_mtime_ns == stamp
    assert read_rows(run / "predictions.csv") == rows


def test_one_file_converts_to_a_checkpoint_that_predict_reads(released, tmp_path, capsys):
    from causalnet.flow.synthetic import expression_frames, textured_image

    ckpt = tmp_path / "sub01.safetensors"
    assert main(["convert", "--reference", str(released / "sub01.pth"), "--out", str(ckpt)]) == 0
    model = load_checkpoint(ckpt)
    expected = from_reference_state_dict(small_state(SEEDS["sub01"]))
    state = model.state_dict()
    assert state.keys() == expected.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in expected.state_dict().items())  # the weights, exactly
    x = torch.rand(4, 4, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255
    with torch.inference_mode():
        # the outputs to float rounding: two separately allocated models need not run the same BLAS kernels
        # bit for bit (seen on an Intel Xeon: 2e-6 apart when one model was built under inference_mode)
        torch.testing.assert_close(model(x), expected(x), rtol=1e-5, atol=1e-5)
    assert model.extra["class_names"] == ["negative", "positive", "surprise"]
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2

    for i, f in enumerate(expression_frames(textured_image(64, 64, seed=3), 40, 5, 20, 35, (32, 24), 4.0,
                                            (1.0, -1.0))):
        cv2.imwrite(str(frames / f"{i:03d}.png"), f)
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(ckpt), "--frames", str(frames), "--face", "none",
                 "--onset", "5", "--apex", "20", "--offset", "35", "--json"]) == 0
    assert sum(json.loads(capsys.readouterr().out)["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_convert_errors_name_the_file(released, fake_composite, tmp_path, capsys):
    assert main(["convert", "--reference", str(released), "--out", str(tmp_path / "run")]) == 1
    assert "needs --data" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    state = small_state(1)
    state["cab.layers.0.3.to_q.weight"] = torch.zeros(16, 8)
    torch.save(state, bad / "sub01.pth")
    assert main(["convert", "--reference", str(bad), "--data", str(fake_composite), "--out", str(tmp_path / "r2"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "sub01.pth: cab.layers.0.3.to_q.weight: shape [16, 8], expected [16, 16]" in err
    other = tmp_path / "other"
    other.mkdir()
    torch.save(state, other / "nobody.pth")
    assert main(["convert", "--reference", str(other), "--data", str(fake_composite), "--out", str(tmp_path / "r3"),
                 "--no-progress"]) == 1
    assert "names a subject" in capsys.readouterr().err
    assert main(["convert", "--reference", str(tmp_path / "none.pth"), "--out", str(tmp_path / "x.safetensors")]) == 1
    assert "none.pth: no such file or folder" in capsys.readouterr().err


def test_subject_ids_from_file_names_must_be_one_path_part(fake_composite, tmp_path, capsys):
    folder = tmp_path / "weird"
    folder.mkdir()
    torch.save(small_state(1), folder / "sub\x01.pth")  # a control character in the file name
    assert main(["convert", "--reference", str(folder), "--data", str(fake_composite), "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 1
    assert "subject id 'sub\\x01'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
