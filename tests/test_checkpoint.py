"""Checkpoints: round trip, and every way a file can fail to fit is a one-line error naming the file."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from causalnet.models import CausalNet, CausalNetConfig, load_checkpoint, save_checkpoint
from causalnet.models.format import read_checkpoint_metadata
from causalnet.models.masking import SparseMask


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = CausalNet(CausalNetConfig.preset("compact")).eval()
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, extra={"class_names": ["a", "b", "c"]})
    return path, model


def rewrite(src, dst, tensors=None, **meta):
    """A copy of checkpoint ``src`` with some metadata entries (JSON-encoded unless str) or tensors replaced."""
    with safe_open(str(src), framework="pt") as fh:
        old = dict(fh.metadata())
    old.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    save_file(tensors if tensors is not None else load_file(str(src)), str(dst), metadata=old)
    return dst


def test_round_trip_rebuilds_buffers_and_trainable_weights(saved):
    path, model = saved
    loaded = load_checkpoint(path)
    x = torch.rand(3, 4, 3, 28, 28) * 255
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert loaded.extra == {"class_names": ["a", "b", "c"]}
    assert not any(b.is_meta for b in loaded.buffers())
    assert all(p.requires_grad and p.dtype == torch.float32 for p in loaded.parameters())
    masks = [m for m in loaded.modules() if isinstance(m, SparseMask)]
    assert masks and all(torch.count_nonzero(m.pseudo) == 4 for m in masks)


def test_a_config_whose_weights_do_not_fit_names_the_file_and_first_key(saved, tmp_path):
    path, model = saved
    cfg = model.config.to_dict() | {"head_hidden": 65}
    bad = rewrite(path, tmp_path / "wider.safetensors", config=cfg)
    with pytest.raises(ValueError, match=r"wider.safetensors: the stored config does not fit its weights: "
                                         r"weight 'head.0.weight' has shape \[64, 192\], the config gives \[65, 192\]"):
        load_checkpoint(bad)
    cfg = model.config.to_dict() | {"crm": False}
    with pytest.raises(ValueError, match=r"nocrm.safetensors: .*unexpected weight 'crm\.to_.\.weight'"):
        load_checkpoint(rewrite(path, tmp_path / "nocrm.safetensors", config=cfg))
    tensors = load_file(str(path))
    del tensors["head.2.bias"]
    with pytest.raises(ValueError, match="dropped.safetensors: .*missing weight 'head.2.bias'"):
        load_checkpoint(rewrite(path, tmp_path / "dropped.safetensors", tensors=tensors))


def test_a_large_config_with_small_weights_is_refused_before_anything_is_allocated(saved, tmp_path):
    path, model = saved
    # each field in range, ~1.1e9 parameters (4.4 GB): built on the meta device only, refused at the first key
    large = model.config.to_dict() | {"dim": 512, "depths": [3, 3, 9], "head_hidden": 4096}
    bad = rewrite(path, tmp_path / "large.safetensors", config=large)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="large.safetensors: the stored config does not fit its weights: weight "):
        load_checkpoint(bad)
    assert time.perf_counter() - start < 60  # nothing of that size was allocated or initialised
    huge = model.config.to_dict() | {"dim": 1 << 20}  # out of range: refused by the config checks
    with pytest.raises(ValueError, match="huge.safetensors: .*CausalNetConfig.dim"):
        load_checkpoint(rewrite(path, tmp_path / "huge.safetensors", config=huge))


@pytest.mark.parametrize(("meta", "message"), [
    ({"extra": ["not", "a", "dict"]}, "'extra' metadata is a list, expected a JSON object"),
    ({"config": "{not json"}, "'config' metadata is not valid JSON"),
    ({"model": "nonet"}, "unknown model 'nonet'"),
    ({"config": {"dim": 16, "no_such_field": 1}}, "unknown CausalNetConfig fields"),
    ({"config": {"depths": 5}}, "does not fit"),
    ({"format": "other"}, "not a causalnet checkpoint"),
])
def test_bad_metadata_is_a_clear_error_naming_the_file(saved, tmp_path, meta, message):
    path, _ = saved
    bad = rewrite(path, tmp_path / "bad.safetensors", **meta)
    with pytest.raises(ValueError, match=message) as info:
        load_checkpoint(bad)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)


def test_metadata_is_read_without_weights_and_junk_is_refused(saved, tmp_path):
    path, model = saved
    meta = read_checkpoint_metadata(path)
    assert meta["model"] == "causalnet" and CausalNetConfig.from_dict(meta["config"]) == model.config
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(ValueError, match="junk.safetensors: not a safetensors checkpoint"):
        read_checkpoint_metadata(junk)
    with pytest.raises(FileNotFoundError, match="nothing.safetensors: checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("blob", [
    (1 << 60).to_bytes(8, "little") + b"{}",  # a header length far beyond the file: not read
    (4).to_bytes(8, "little") + b"\xff\xfe{}",  # not UTF-8 JSON
    (2).to_bytes(8, "little") + b"[]",  # JSON, not an object
    (30).to_bytes(8, "little") + b'{"__metadata__": {"format": 1}}',  # metadata values must be strings
])
def test_crafted_headers_are_refused_without_reading_the_claimed_size(tmp_path, blob):
    bad = tmp_path / "crafted.safetensors"
    bad.write_bytes(blob)
    with pytest.raises(ValueError, match="crafted.safetensors: not a (safetensors|causalnet) checkpoint"):
        read_checkpoint_metadata(bad)


def test_non_finite_weights_are_refused_naming_file_and_tensor(tmp_path):
    """Issue 32 item 5: a checkpoint (ours or the authors' .pth) whose tensors hold NaN/Inf is refused at load."""
    import pytest
    import torch
    from safetensors.torch import load_file, save_file

    from causalnet.models import CausalNet, CausalNetConfig, load_checkpoint, save_checkpoint
    from causalnet.models.format import read_checkpoint_metadata
    from causalnet.models.reference import from_reference_state_dict

    model = CausalNet(CausalNetConfig(dim=8, depths=(1, 1, 1)))
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model)
    meta = read_checkpoint_metadata(path)
    state = load_file(str(path))
    key = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("inf")
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata={"format": "causalnet-checkpoint-v1", "model": meta["model"],
                                         "config": __import__("json").dumps(meta["config"]), "extra": "{}"})
    with pytest.raises(ValueError, match=rf"bad.safetensors: weight '{key}' holds 1 non-finite"):
        load_checkpoint(bad)
    with pytest.raises(ValueError, match="non-finite"):
        from_reference_state_dict({"fc.weight": torch.tensor([float("nan")])})


def test_a_truncated_train_init_is_refused_in_the_driver_before_any_fold(fake_composite, tmp_path, capsys):
    """Issue 32 item 7: train.init is opened and validated once, in the driver, before any fold starts."""
    from causalnet.cli import main
    from causalnet.models import CausalNet, CausalNetConfig, save_checkpoint

    path = tmp_path / "init.safetensors"
    save_checkpoint(path, CausalNet(CausalNetConfig(dim=8, depths=(1, 1, 1), head_hidden=16)))
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    code = main(["train", "--data", str(fake_composite), "--subjects", "sub01", "--epochs", "1", "--no-progress",
                 "--workers", "1", "--out", str(tmp_path / "run"), "--set", "model.dim=8", "model.depths=1,1,1",
                 "model.head_hidden=16", f"train.init={path}"])
    err = capsys.readouterr().err
    assert code == 1 and f"train.init {path}" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run" / "folds").exists()
