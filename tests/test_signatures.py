"""Config signatures: the hashes that name fold folders, input caches and pretrained checkpoints must not
change when a config grows a switched-off field, or every finished fold is silently retrained.

The mechanism is :attr:`causalnet.config.PresetMixin.LATER_FIELDS` + :func:`causalnet.config.config_signature`;
the guard is :data:`SIGNED_FIELDS` below: a new field of a hashed config fails
``test_a_new_field_is_declared`` until it is declared (or recorded here as a deliberate change of results).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from causalnet.config import PresetMixin, config_hash, config_signature
from causalnet.flow.config import PreprocessConfig
from causalnet.keyframes.spotting import SpotterConfig
from causalnet.models.registry import get_entry, list_models
from causalnet.robustness.config import RobustnessConfig
from causalnet.train.config import ExperimentConfig, TrainConfig
from causalnet.train.simtoreal import SimToRealConfig

#: the fields each hashed config had when its results were stored, less its LATER_FIELDS. A field added to a
#: config without an entry in its LATER_FIELDS changes every signature (finished folds and caches become
#: unreachable): declare it there with the value that reproduces the old behaviour, or, if results must be
#: recomputed on purpose, add its name here.
SIGNED_FIELDS = {
    "TrainConfig": "epochs lr weight_decay batch_size seed class_weights label_smoothing members member_validation "
                   "shift amp mirror mirror_tta schedule input_norm mixup ema stack init",
    "PreprocessConfig": "face_method face_size eye_row eye_distance detect_max_side detect_upsample "
                        "detect_retry_upsample landmark_model tvl1_tau tvl1_lambda tvl1_theta tvl1_epsilon tvl1_gamma "
                        "tvl1_scales tvl1_scale_step tvl1_warps tvl1_inner_iterations tvl1_outer_iterations "
                        "tvl1_median_filtering out_size resize_interpolation min_flow_range min_strain_range "
                        "direction_from",
    "SpotterConfig": "grid_rows grid_cols lbp_radius blur_sigma top_block_fraction reference n_reference_frames "
                     "smooth_window n_intervals peaks_only half_window scale_window_with_fps reference_fps "
                     "chunk_frames",
    "RobustnessConfig": "sigmas spotting runs noise_seed reference_fps scale_with_fps order spotter apex_method "
                        "jitter_sigmas jitter_variants jitter_annotated_share tta_k tta_sigma",
    "SimToRealConfig": "subjects clips_per_subject seed synth_preset train_preset",
    "ApexNetConfig": "num_classes image_size in_channels image channels input_scale input_shift conv_widths "
                     "kernel_size pool fc_widths dropout",
    "CausalNetConfig": "num_classes image_size patch_size in_channels dim depths heads mlp_ratio token_grid gamma "
                       "mask_radius cmplm_depth cmplm_heads cmplm_sequential cmplm_attention_first mlp_norm qkv_bias "
                       "cab_depth cab_heads crm_heads head_hidden head_activation dropout input_scale input_shift "
                       "cmplm stca crm pseudo_attention fast",
    "DualInceptionConfig": "num_classes image_size in_channels image channels input_scale input_shift widths "
                           "fc_widths dropout",
    "HTNetConfig": "num_classes image_size patch_size in_channels dim depths heads mlp_ratio dropout fast image "
                   "input_scale input_shift",
    "MicroAttentionConfig": "num_classes image_size in_channels image channels input_scale input_shift resize "
                            "stem_width stem_kernel stem_stride stem_pool widths fc_widths dropout",
    "MMNetConfig": "num_classes image_size in_channels image channels input_scale input_shift resize stem_width "
                   "stem_stride widths strides pos_depth pos_heads pos_mlp_ratio dropout",
    "OffApexNetConfig": "num_classes image_size in_channels image channels input_scale input_shift conv_widths "
                        "kernel_size pool fc_widths dropout",
    "OffTANetConfig": "num_classes image_size in_channels image channels input_scale input_shift resize stem_width "
                      "stem_kernel stem_stride res_widths attention_width heads channel_hidden spatial_kernel "
                      "fc_widths dropout",
    "SRMCLConfig": "num_classes image_size in_channels image channels input_scale input_shift patch_size dim depth "
                   "heads mlp_ratio dropout decoder_dim decoder_depth decoder_heads mask_ratio mask_rounds "
                   "recon_weight memory_weight temperature memory_momentum",
}

HASHED = [TrainConfig, PreprocessConfig, SpotterConfig, RobustnessConfig, SimToRealConfig,
          *[get_entry(m).config_cls for m in list_models()]]


@pytest.mark.parametrize("cls", HASHED, ids=lambda c: c.__name__)
def test_a_new_field_is_declared(cls: type[PresetMixin]) -> None:
    signed = [f.name for f in dataclasses.fields(cls) if f.name not in cls.LATER_FIELDS]
    recorded = SIGNED_FIELDS[cls.__name__].split()
    added = [n for n in signed if n not in recorded]
    assert not added, (f"{cls.__name__} has new field(s) {added}: list each in {cls.__name__}.LATER_FIELDS with the "
                       "value that reproduces the behaviour from before it (else every stored fold and cache keyed "
                       "by this config is retrained), or record it in SIGNED_FIELDS if results must change")
    assert [n for n in recorded if n not in signed] == [], f"{cls.__name__}: a recorded field is gone"


@pytest.mark.parametrize("cls", HASHED, ids=lambda c: c.__name__)
def test_later_fields_are_fields_whose_default_is_neutral(cls: type[PresetMixin]) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, neutral in cls.LATER_FIELDS.items():
        assert name in fields, f"{cls.__name__}.LATER_FIELDS names {name!r}, not a field"
        assert getattr(cls(), name) == neutral, f"{cls.__name__}.{name}: the default must be the neutral value"


@pytest.mark.parametrize("cls", HASHED, ids=lambda c: c.__name__)
def test_signature_is_to_dict_less_neutral_later_fields(cls: type[PresetMixin]) -> None:
    for preset in cls.preset_names():
        cfg = cls.preset(preset)
        expected = {k: v for k, v in cfg.to_dict().items()
                    if not (k in cls.LATER_FIELDS and v == cls.LATER_FIELDS[k])}
        assert config_signature(cfg) == expected


def test_a_stored_experiment_from_before_a_later_field_keeps_its_hash() -> None:
    # What a robustness fold folder or a sweep candidate of a run from before train.gce_q and
    # train.adversary was named by: the hash of the config.json written then.
    exp = ExperimentConfig.preset("compact", "htnet")
    stored = json.loads(json.dumps(exp.to_dict()))
    for name in TrainConfig.LATER_FIELDS:
        del stored["train"][name]
    assert config_hash(config_signature(ExperimentConfig.from_dict(stored))) == config_hash(stored)
    assert config_hash(config_signature(exp)) == config_hash(stored)


def test_a_later_field_switched_on_changes_the_signature() -> None:
    base = ExperimentConfig.preset("compact", "htnet")
    on = base.with_overrides({"train.gce_q": 0.7})
    assert config_signature(on)["train"]["gce_q"] == 0.7
    assert config_hash(config_signature(on)) != config_hash(config_signature(base))


@dataclasses.dataclass
class _Inner(PresetMixin):
    a: int = 1
    new: float = 0.0
    LATER_FIELDS = {"new": 0.0}  # noqa: RUF012 (a class attribute, not a field)


@dataclasses.dataclass
class _Outer(PresetMixin):
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    items: tuple[int, ...] = (1, 2)


def test_nested_configs_and_plain_values() -> None:
    assert config_signature(_Outer()) == {"inner": {"a": 1}, "items": [1, 2]}
    assert config_signature(_Outer(inner=_Inner(new=0.5))) == {"inner": {"a": 1, "new": 0.5}, "items": [1, 2]}
    assert config_signature({"x": (_Inner(),)}) == {"x": [{"a": 1}]}
