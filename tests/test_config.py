"""Config helpers: presets, dictionary round trips and command-line overrides."""

from dataclasses import dataclass

import pytest

from causalnet.config import PresetMixin, parse_value


@dataclass
class Demo(PresetMixin):
    name: str = "dlib"
    size: int = 128
    rate: float = 0.5
    sizes: tuple[int, ...] = (1, 2)
    limit: int | None = None
    flag: bool = False


Demo.PRESETS = {"default": Demo, "big": lambda: Demo(size=256)}


def test_overrides_parse_to_field_types():
    d = Demo().with_overrides({"name": "none", "size": "64", "rate": "1", "sizes": "3,4", "limit": "none",
                               "flag": "true"})
    assert d == Demo(name="none", size=64, rate=1.0, sizes=(3, 4), limit=None, flag=True)
    assert isinstance(d.rate, float)


def test_bad_values_and_names_are_clear_errors():
    with pytest.raises(ValueError, match="no field 'nope'"):
        Demo().with_overrides({"nope": "1"})
    with pytest.raises(ValueError, match="true/false"):
        Demo().with_overrides({"flag": "3"})
    with pytest.raises(ValueError, match="unknown Demo preset 'huge'"):
        Demo.preset("huge")


def test_roundtrip_and_presets():
    d = Demo.preset("big")
    assert d.size == 256 and Demo.from_dict(d.to_dict()) == d
    assert Demo.preset_names() == ["big", "default"]
    with pytest.raises(ValueError, match="unknown Demo fields"):
        Demo.from_dict({"size": 1, "extra": 2})


def test_parse_value():
    assert parse_value("1e-3") == 1e-3 and parse_value("false") is False and parse_value("a,b") == ["a", "b"]
