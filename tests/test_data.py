"""The composite loader: the real benchmark, the mosaic, and clear errors on bad input."""

import csv
import time

import cv2
import numpy as np
import pytest

from causalnet.data import CSV_NAME, IMAGE_DIR, facial_mosaic, load_composite
from causalnet.data.composite import _load_cached


@pytest.fixture(autouse=True)
def _fresh_cache():
    _load_cached.cache_clear()


def test_real_composite_counts(composite_root):
    t = time.perf_counter()
    clips = load_composite(composite_root)
    assert time.perf_counter() - t < 30  # "a few seconds" with a wide margin for a busy CI machine
    assert clips.x.shape == (442, 4, 3, 28, 28) and clips.x.dtype == np.float32
    assert len(clips.subject_list()) == 68
    expected = {"casme2": (145, [88, 32, 25]), "smic": (164, [70, 51, 43]), "samm": (133, [92, 26, 15])}
    for name, (n, per_class) in expected.items():
        sel = clips.datasets == name
        assert sel.sum() == n
        assert np.bincount(clips.y[sel], minlength=3).tolist() == per_class
    assert "006" in clips.subject_list()  # leading zeros kept (subjects read as text)
    # published channel statistics (SPEC §2): strain channel dark, flow channels mid-grey
    means = clips.raw[:, 0].reshape(-1, 3).mean(0)
    assert means[0] < 20 and 110 < means[1] < 145 and 110 < means[2] < 145
    assert load_composite(composite_root) is clips  # cached for the run


def test_mosaic_tiles_the_four_blocks():
    img = np.arange(28 * 28 * 3, dtype=np.int64).reshape(28, 28, 3)
    m = facial_mosaic(img)
    assert m.shape == (28, 28, 3)
    assert np.array_equal(m[:14, :14], img[2:16, 4:18])  # left eye (9, 11)
    assert np.array_equal(m[:14, 14:], img[14:28, 3:17])  # left lips (21, 10)
    assert np.array_equal(m[14:, :14], img[3:17, 14:28])  # right eye (10, 21)
    assert np.array_equal(m[14:, 14:], img[13:27, 14:28])  # right lips (20, 21)
    assert np.array_equal(facial_mosaic(np.stack([img, img]))[1], m)
    with pytest.raises(ValueError, match="28x28"):
        facial_mosaic(np.zeros((32, 32, 3)))


def test_fake_layout_loads_as_mosaic(fake_composite):
    clips = load_composite(fake_composite)
    assert len(clips) == 18 and clips.subject_list()[4] == "006"
    expected = facial_mosaic(clips.raw[0, 1]).transpose(2, 0, 1)
    assert np.array_equal(clips.x[0, 1], expected.astype(np.float32))


def _rewrite_csv(root, fieldnames, rows):
    with open(root / CSV_NAME, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fieldnames)
        w.writeheader()
        w.writerows(rows)


def _rows(root):
    with open(root / CSV_NAME, newline="") as fh:
        return list(csv.DictReader(fh))


def test_missing_png_names_the_file(fake_composite):
    victim = fake_composite / IMAGE_DIR / "s01_clip01_2 .png"
    victim.unlink()
    with pytest.raises(FileNotFoundError, match="s01_clip01_2 .png: image not found"):
        load_composite(fake_composite)


def test_unreadable_png_names_the_file(fake_composite):
    victim = fake_composite / IMAGE_DIR / "sub02_clip00 .png"
    victim.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="sub02_clip00 .png: unreadable"):
        load_composite(fake_composite)


def test_wrong_size_png_names_the_file(fake_composite):
    victim = fake_composite / IMAGE_DIR / "007_clip02_3 .png"
    cv2.imwrite(str(victim), np.zeros((32, 28, 3), np.uint8))
    with pytest.raises(ValueError, match=r"007_clip02_3 .png: expected a 28x28 3-channel image, got \(32, 28, 3\)"):
        load_composite(fake_composite)


def test_csv_without_needed_columns(fake_composite):
    rows = [{k: v for k, v in r.items() if k != "label"} for r in _rows(fake_composite)]
    _rewrite_csv(fake_composite, ["dataset", "sub", "filename_o", "apex"], rows)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        load_composite(fake_composite)


def test_unknown_label(fake_composite):
    rows = _rows(fake_composite)
    rows[4]["label"] = "7"
    _rewrite_csv(fake_composite, list(rows[0]), rows)
    with pytest.raises(ValueError, match=r"combined_3_class2_for_optical_flow.csv:6: unknown label '7'; expected 0..2"):
        load_composite(fake_composite)


def test_class_names_come_from_preprocess_json(fake_composite):
    from causalnet.io import write_json_atomic

    rows = _rows(fake_composite)
    rows[4]["label"] = "4"
    _rewrite_csv(fake_composite, list(rows[0]), rows)
    names = ["disgust", "fear", "happiness", "others", "surprise"]
    write_json_atomic(fake_composite / "preprocess.json", {"class_names": names})
    clips = load_composite(fake_composite)
    assert clips.class_names == tuple(names) and clips.num_classes == 5 and clips.y.max() == 4


def test_subject_with_no_clips(fake_composite):
    with pytest.raises(ValueError, match=r"subject\(s\) \['sub99'\] have no clips"):
        load_composite(fake_composite, subjects=["sub01", "sub99"])


def test_missing_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="clip list not found"):
        load_composite(tmp_path)
