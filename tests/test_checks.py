"""Validation at the boundary (causalnet.checks): safe path parts, config field ranges, output folders."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing

import pytest
import torch

import causalnet
from causalnet.checks import (
    MAX_NAME_BYTES,
    between,
    check_output_dir,
    check_value,
    one_of,
    positive,
    safe_path_part,
)
from causalnet.config import PresetMixin
from causalnet.models.registry import MAX_PARAMETERS, check_buildable, list_models, make_config
from causalnet.train import ExperimentConfig

# ---------------------------------------------------------------- names that become path parts

BAD_NAMES = {
    "": "is empty",
    ".": "relative folder reference",
    "..": "relative folder reference",
    "../../T": "path separator",
    "a/b": "path separator",
    "/etc/passwd": "path separator",
    "a\\b": "path separator",
    "C:evil": "drive letter",
    "a\x00b": "control character",
    "line\nbreak": "control character",
    "tab\t": "control character",
    "x" * (MAX_NAME_BYTES + 1): "too long",
    "é" * (MAX_NAME_BYTES // 2 + 1): "too long",  # counted in UTF-8 bytes
    "\udcff": "cannot be encoded",
}


@pytest.mark.parametrize("name", list(BAD_NAMES))
def test_safe_path_part_refuses_with_source_and_problem(name):
    with pytest.raises(ValueError) as err:
        safe_path_part(name, what="subject", source="annotations.csv:12")
    message = str(err.value)
    assert message.startswith("annotations.csv:12: subject ") and BAD_NAMES[name] in message
    assert "\n" not in message  # one line, even for a name with a newline


@pytest.mark.parametrize("name", ["sub01", "006", "EP02_01f", "s01_ne_01", "a b", "..a", "a..", ".hidden", "Ünï",
                                  "x" * MAX_NAME_BYTES])
def test_safe_path_part_keeps_ordinary_names(name):
    assert safe_path_part(name, what="clip") == name


def test_check_output_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--out names an existing file, not a folder"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(ValueError, match="cannot be created: .*file is a file"):
        check_output_dir(tmp_path / "file" / "sub" / "deeper")
    assert check_output_dir(tmp_path / "new" / "folder") == tmp_path / "new" / "folder"
    assert not (tmp_path / "new").exists()  # nothing is created
    assert check_output_dir(tmp_path) == tmp_path


# ---------------------------------------------------------------- values and their messages


@pytest.mark.parametrize(
    ("value", "hint", "check", "message"),
    [
        (-1, int, between(1, 10), "X: must be an integer in [1, 10], got -1"),
        (1.5, int, between(1, 10), "X: must be an integer in [1, 10], got 1.5"),
        (True, int, None, "X: must be an integer, got True"),
        ("abc", float, positive(), "X: must be a finite number > 0, got 'abc'"),
        (float("nan"), float, None, "X: must be a finite number, got nan"),
        (2, bool, None, "X: must be true/false, got 2"),
        ("x", str, one_of("a", "b"), "X: must be one of 'a', 'b', got 'x'"),
        ((1, 0), tuple[int, ...], between(1, 4, items=(1, 3)), "X: must be a list of 1 to 3 integers in [1, 4]"),
        ((1, 2), tuple[float, float, float], None, "X: must be a list of 3 numbers, got (1, 2)"),
        ("9" * 5000, int, None, "X: must be an integer, got '9999"),
        (0, int | None, between(1, 2), "X: must be none or an integer in [1, 2], got 0"),
    ],
)
def test_check_value_messages(value, hint, check, message):
    with pytest.raises(ValueError) as err:
        check_value(value, hint, check, "X")
    assert str(err.value).startswith(message)
    assert len(str(err.value)) < 200


def test_check_value_accepts():
    check_value(None, int | None, between(1, 2), "X")
    check_value(3, float, positive(), "X")  # an int is a number
    check_value((1.0, 2), tuple[float, float], between(0, 3), "X")


# ---------------------------------------------------------------- every config class declares its ranges


def _config_classes() -> list[type]:
    for info in pkgutil.walk_packages(causalnet.__path__, "causalnet."):
        if not info.name.startswith("causalnet.commands"):
            importlib.import_module(info.name)
    found, todo = [], list(PresetMixin.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


CONFIG_CLASSES = _config_classes()


def test_config_classes_are_found():
    names = {c.__name__ for c in CONFIG_CLASSES}
    assert {"CausalNetConfig", "TrainConfig", "PreprocessConfig", "RobustnessConfig", "SynthConfig",
            "SpotterConfig", "KeyframeNoise", "HTNetConfig", "OffApexNetConfig"} <= names


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_numeric_field_declares_its_range(cls):
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(cls.FIELD_CHECKS) <= fields, f"{cls.__name__}.FIELD_CHECKS names unknown fields"
    for name in fields:
        text = str(hints[name])
        if any(t in text for t in ("int", "float", "str")) and "bool" not in text:
            assert name in cls.FIELD_CHECKS, f"{cls.__name__}.{name} has no declared range (use ANY if unbounded)"


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_presets_pass_and_bad_types_name_the_field(cls):
    for name in cls.preset_names():
        cls.preset(name)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        bad = {int: 1.5, float: "abc", bool: 2, str: 3}.get(hints[f.name])
        if bad is None:
            continue
        with pytest.raises(ValueError, match=rf"^{cls.__name__}\.{f.name}: must be "):
            cls.preset(cls.preset_names()[0]).with_overrides({f.name: bad})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"train.lr": "abc"}, "TrainConfig.lr: must be a finite number in (0, 10), got 'abc'"),
        ({"model.dim": "0"}, "CausalNetConfig.dim: must be an integer in [1, 1024], got 0"),
        ({"train.epochs": "1.5"}, "TrainConfig.epochs: must be an integer in [1, 100000], got 1.5"),
        ({"train.epochs": "-1"}, "TrainConfig.epochs: must be an integer in [1, 100000], got -1"),
        ({"train.mirror": "2"}, "TrainConfig.mirror: must be true/false, got 2"),
        ({"train.lr": "1e999"}, "TrainConfig.lr: must be a finite number in (0, 10), got inf"),
        ({"train.schedule": "linear"}, "TrainConfig.schedule: must be one of 'constant', 'cosine', got 'linear'"),
        ({"model.depths": "1,0,1"}, "CausalNetConfig.depths: must be a list of 1 to 4 integers in [1, 32]"),
        ({"model.depths": "abc"}, "CausalNetConfig.depths: must be a list of 1 to 4 integers in [1, 32], got 'abc'"),
        ({"model.dropout": "1"}, "CausalNetConfig.dropout: must be a finite number in [0, 1), got 1.0"),
        ({"train.members": "100000"}, "TrainConfig.members: must be an integer in [1, 64], got 100000"),
    ],
)
def test_set_values_give_one_line_naming_the_field(override, message):
    with pytest.raises(ValueError) as err:
        ExperimentConfig.preset("compact").with_overrides(override)
    assert str(err.value).startswith(message)


def test_a_model_too_large_or_unbuildable_is_refused_before_allocation():
    cfg = ExperimentConfig.preset("compact")
    with pytest.raises(ValueError, match=r"CausalNetConfig: these settings make a causalnet model of .* parameters"):
        cfg.with_overrides({"model.dim": "1024", "model.depths": "32,32,32", "model.mlp_ratio": "16"})
    with pytest.raises(ValueError, match="CausalNetConfig: these settings do not build a causalnet model"):
        cfg.with_overrides({"model.patch_size": "64"})
    assert check_buildable("causalnet", cfg.model) == sum(
        p.numel() for p in __import__("causalnet.models", fromlist=["create_model"]).create_model(
            "causalnet", cfg.model).parameters())


@pytest.mark.parametrize("name", list_models())
def test_every_preset_of_every_model_is_buildable_and_within_budget(name):
    from causalnet.models import get_entry

    for preset in get_entry(name).config_cls.preset_names():
        assert 0 < check_buildable(name, make_config(name, preset)) <= MAX_PARAMETERS


def test_building_on_meta_keeps_the_model_unchanged():
    # the masks are computed on the CPU and moved: a normal build is bit-identical to before
    from causalnet.models import CausalNet, CausalNetConfig

    torch.manual_seed(0)
    a = CausalNet(CausalNetConfig.preset("compact"))
    check_buildable("causalnet", CausalNetConfig.preset("compact"))
    torch.manual_seed(0)
    b = CausalNet(CausalNetConfig.preset("compact"))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert {t.device.type for t in a.buffers()} == {"cpu"}
