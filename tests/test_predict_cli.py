"""``causalnet predict``: a checkpoint + a clip (frame folder or video) → class and probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from causalnet.cli import main
from causalnet.flow.synthetic import expression_frames, textured_image

N_FRAMES = 100
SIZE = 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    models = pytest.importorskip("causalnet.models")
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    models.save_checkpoint(path, models.CausalNet(models.CausalNetConfig.preset("compact")))
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[np.ndarray]:
    base = textured_image(SIZE, SIZE, seed=21)
    return expression_frames(base, N_FRAMES, 20, 45, 80, (32, 24), 4.0, (1.0, -1.5), noise_sigma=1.0)


@pytest.fixture(scope="module")
def frame_dir(tmp_path_factory, frames) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"frame{i + 1}.png"), f)
    return folder


def _predict(*extra: str) -> list[str]:
    return ["predict", "--face", "none", "--onset", "20", "--apex", "45", "--offset", "80", *extra]


def test_predict_on_a_frame_folder(checkpoint, frame_dir, capsys, tmp_path):
    code = main(
        _predict("--checkpoint", str(checkpoint), "--frames", str(frame_dir), "--save-images", str(tmp_path))
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("prediction: ") and "negative" in out and "positive" in out and "surprise" in out
    probs = [float(line.split()[-1]) for line in out.splitlines()[1:4]]
    assert sum(probs) == pytest.approx(1.0, abs=2e-3)
    assert len(list(tmp_path.rglob("*.png"))) == 4


def test_predict_json_on_a_video_matches_the_folder(checkpoint, frames, frame_dir, capsys, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 100, (SIZE, SIZE))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    assert main(_predict("--checkpoint", str(checkpoint), "--video", str(video), "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["probabilities"]) == {"negative", "positive", "surprise"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert result["class"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["label"] == ["negative", "positive", "surprise"].index(result["class"])
    assert main(_predict("--checkpoint", str(checkpoint), "--frames", str(frame_dir), "--json")) == 0
    folder = json.loads(capsys.readouterr().out)
    # JPEG-compressed video frames vs lossless PNGs: close, not identical
    for name, p in result["probabilities"].items():
        assert p == pytest.approx(folder["probabilities"][name], abs=0.15)


def test_predict_bad_input(checkpoint, frame_dir, tmp_path, capsys):
    bad = [
        "predict",
        "--face",
        "none",
        "--checkpoint",
        str(checkpoint),
        "--frames",
        str(frame_dir),
        "--onset",
        "20",
        "--apex",
        "45",
        "--offset",
        "150",
    ]
    assert main(bad) == 1
    assert "frame index 150 out of range (the clip has 100 frames" in capsys.readouterr().err
    assert main(_predict("--checkpoint", str(tmp_path / "none.safetensors"), "--frames", str(frame_dir))) == 1
    assert "none.safetensors: checkpoint not found" in capsys.readouterr().err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 4)
    assert main(_predict("--checkpoint", str(junk), "--frames", str(frame_dir))) == 1
    assert "not a safetensors checkpoint" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--face",
                "none",
                "--checkpoint",
                str(checkpoint),
                "--frames",
                str(frame_dir),
                "--onset",
                "50",
                "--apex",
                "45",
                "--offset",
                "80",
            ]
        )
        == 1
    )
    assert "onset <= apex <= offset" in capsys.readouterr().err


def test_predict_averages_over_the_mirror_image_when_trained_so(frame_dir, capsys, tmp_path):
    import torch
    from einops import rearrange

    from causalnet.data.composite import image_paths
    from causalnet.data.mirror import mirror_clips
    from causalnet.data.mosaic import facial_mosaic
    from causalnet.models import CausalNet, CausalNetConfig, load_checkpoint, save_checkpoint

    path = tmp_path / "tta.safetensors"
    torch.manual_seed(5)
    save_checkpoint(path, CausalNet(CausalNetConfig.preset("compact")), extra={"train": {"mirror_tta": True}})
    assert main(_predict("--checkpoint", str(path), "--frames", str(frame_dir), "--json",
                         "--save-images", str(tmp_path / "img"))) == 0
    got = json.loads(capsys.readouterr().out)["probabilities"]
    images = [cv2.imread(str(p)) for p in image_paths(tmp_path / "img", "predict", "clip")]
    x = rearrange(np.stack([facial_mosaic(i) for i in images]).astype(np.float32), "n h w c -> 1 n c h w")
    model = load_checkpoint(path)
    with torch.no_grad():
        plain = model(torch.from_numpy(x)).softmax(-1)[0].numpy()
        both = model(torch.from_numpy(np.concatenate([x, mirror_clips(x)]))).softmax(-1).mean(0).numpy()
    np.testing.assert_allclose(list(got.values()), both, atol=1e-5)
    assert np.abs(plain - both).max() > 1e-4  # the mirror image changed the answer: TTA was applied


def test_predict_uses_the_face_setting_stored_with_the_model(fake_composite, frame_dir, capsys, tmp_path):
    """A model trained on pre-cropped faces (``--face none`` data) predicts on such frames with no --face."""
    from causalnet.flow.config import PreprocessConfig
    from causalnet.io import write_json_atomic

    stored = PreprocessConfig(face_method="none").to_dict()
    write_json_atomic(fake_composite / "preprocess.json", {"preprocess": stored})
    model = tmp_path / "cropped.safetensors"
    assert main(["train", "--data", str(fake_composite), "--epochs", "1", "--no-progress",
                 "--save-model", str(model)]) == 0
    capsys.readouterr()
    keyframes = ["--onset", "20", "--apex", "45", "--offset", "80"]
    assert main(["predict", "--checkpoint", str(model), "--frames", str(frame_dir), "--json", *keyframes]) == 0
    assert json.loads(capsys.readouterr().out)["class"] in ("negative", "positive", "surprise")
    # the flag still overrides the stored setting: dlib finds no face in these textured frames
    assert main(["predict", "--face", "dlib", "--checkpoint", str(model), "--frames", str(frame_dir),
                 *keyframes]) == 1
    assert "face" in capsys.readouterr().err


def test_predict_refuses_save_images_naming_a_file_before_any_work(checkpoint, frame_dir, capsys, tmp_path):
    target = tmp_path / "images.png"
    target.write_bytes(b"keep me")
    assert main(_predict("--checkpoint", str(checkpoint), "--frames", str(frame_dir),
                         "--save-images", str(target))) == 1
    assert "images.png: --save-images names an existing file" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"


def test_predict_face_choices_are_the_pipeline_ones():
    from causalnet.commands import options
    from causalnet.flow.config import FACE_METHODS

    assert options.FACE_METHODS == FACE_METHODS


def test_predict_device_option(checkpoint, frame_dir, capsys):
    """--device cpu predicts as the default does; a device that is not there is a one-line error."""
    args = _predict("--checkpoint", str(checkpoint), "--frames", str(frame_dir), "--json")
    assert main(args) == 0
    default = json.loads(capsys.readouterr().out)["probabilities"]
    assert main([*args, "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["probabilities"] == default
    assert main([*args, "--device", "tpu"]) == 1
    assert "--device must be one of auto, cpu, cuda or cuda:N, got 'tpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*args, "--device", "cuda"]) == 1
        assert "--device cuda: no CUDA GPU is available" in capsys.readouterr().err
