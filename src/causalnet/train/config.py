"""Training and experiment configs with named presets (``paper``, ``compact``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from causalnet.checks import ANY, Check, between, one_of
from causalnet.config import PresetMixin, split_scopes
from causalnet.data.normalise import INPUT_NORMS
from causalnet.eval.protocols import PROTOCOLS
from causalnet.models.registry import get_entry, make_config
from causalnet.train.stacking import STACKS

SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig(PresetMixin):
    """How one model is trained (SPEC §5 reference values by default).

    A field added later must default to the old behaviour: run folders written before it existed
    resume with that default (:meth:`causalnet.train.LosoRun.write_config`).

    Attributes:
        epochs: passes over the training set.
        lr: Adam learning rate.
        weight_decay: Adam (decoupled, AdamW) weight decay; 0 = plain Adam as the reference.
        batch_size: samples per step; larger than the training set = full-batch steps (reference).
        seed: base seed; each fold's seed is derived from it, the run index and the subject id.
        class_weights: ``"none"`` (reference) or ``"balanced"`` (inverse class frequency in the
            training folds; never looks at test labels).
        label_smoothing: cross-entropy label smoothing.
        members: models trained per fold (seeds ``seed + k``); their probabilities are averaged.
        member_validation: each member holds out its own group of training subjects (a subject-wise
            K-fold of the training set, K = ``members``) and records validation scores per epoch, which
            the ``val`` protocol uses to pick each member's epoch. Test subjects are never used.
        shift: random translation of the input images by up to this many pixels (augmentation).
        amp: bfloat16 autocast on the training device (GPUs; also CPUs with AVX512-BF16; measured
            effect in docs/results.md). Called ``bf16`` before; stored configs with that name still load.
        mirror: augmentation: every time a training clip enters a batch, it is drawn as is or
            mirrored left-right (:func:`causalnet.data.mirror.mirror_clips`) with equal chance.
        schedule: learning-rate schedule over all steps: ``"constant"`` or ``"cosine"`` (decays from
            ``lr`` to 0 by the last step, so the final epoch — the ``fixed`` protocol's — is a settled one).
        mirror_tta: test-time averaging: predictions (test and validation) are the mean of the
            probabilities of each clip and its mirror image.
        input_norm: group-wise input centring (:mod:`causalnet.data.normalise`): ``"none"``;
            ``"subject"`` removes each subject's mean input using all its clips, the test subject's
            unlabelled clips included (**transductive**); ``"dataset"`` removes each source dataset's
            mean input computed on the training subjects only.
        mixup: mixup augmentation with mixing weights drawn from Beta(``mixup``, ``mixup``) per member
            and step (each batch mixed with a shuffled copy of itself, the loss mixed alike); 0 = off.
        ema: decay per step of an exponential moving average of the weights; the average is what
            is evaluated after every epoch and what the members end with. 0 = off (plain weights).
        stack: ``"none"``, or ``"linear"``: every member's predictions are mixed with those of a logistic
            regression on the flow pixels, with a weight fitted on the members' validation subjects
            (:mod:`causalnet.train.stacking`; needs ``member_validation``).
        init: path of a checkpoint (``causalnet train --save-model``, same model and config) whose weights
            initialise every member before training (fine-tuning a pretrained model,
            :mod:`causalnet.train.pretrain`); empty = random initialisation.
        adversary: λ of a dataset-adversarial head (:mod:`causalnet.train.adversarial`): a small classifier
            learns each training clip's source dataset from the pre-head features through a gradient-reversal
            layer that scales the gradient into the features by ``-adversary``; 0 = off. Not combinable with
            ``mixup`` (a mixed input has no single dataset).
        gce_q: label-noise-robust loss: ``q`` of the generalised cross-entropy ``(1 - p_y^q) / q`` in place of
            the cross-entropy (:func:`causalnet.train.loop.class_loss`); 0 = cross-entropy. Not combinable
            with ``label_smoothing``.
        compile: run the members' training step through ``torch.compile`` (:mod:`causalnet.train.compiled`):
            the same computation up to float32 rounding, faster once compiled; falls back to eager (logged) where
            compiling fails. An execution choice, like the device, but recorded because the last bits differ.
    """

    epochs: int = 200
    lr: float = 5e-5
    weight_decay: float = 0.0
    batch_size: int = 1024
    seed: int = 2025
    class_weights: str = "none"
    label_smoothing: float = 0.0
    members: int = 1
    member_validation: bool = False
    shift: int = 0
    amp: bool = False
    mirror: bool = False
    mirror_tta: bool = False
    schedule: str = "constant"
    input_norm: str = "none"
    mixup: float = 0.0
    ema: float = 0.0
    stack: str = "none"
    init: str = ""
    adversary: float = 0.0
    gce_q: float = 0.0
    compile: bool = False

    #: allowed ranges, checked on construction (also of --set values) before the rules below
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "epochs": between(1, 100_000), "lr": between(0, 10, lo_open=True, hi_open=True),
        "weight_decay": between(0, 10),
        "batch_size": between(1, 1_000_000), "seed": between(0, 2**32 - 1), "class_weights": one_of("none", "balanced"),
        "label_smoothing": between(0, 1, hi_open=True), "members": between(1, 64), "shift": between(0, 27),
        "schedule": one_of(*SCHEDULES), "input_norm": one_of(*INPUT_NORMS), "mixup": between(0, 100),
        "ema": between(0, 1, hi_open=True), "stack": one_of(*STACKS), "init": ANY,
        "adversary": between(0, 100), "gce_q": between(0, 1),
    }
    #: switched-off fields added after fold results were first stored (see PresetMixin.LATER_FIELDS)
    LATER_FIELDS: ClassVar[dict[str, Any]] = {"adversary": 0.0, "gce_q": 0.0, "compile": False}

    #: renamed fields: old name -> new name (stored configs written with the old name still load)
    RENAMED: ClassVar[dict[str, str]] = {"bf16": "amp"}

    def __post_init__(self) -> None:
        if self.adversary > 0 and self.mixup > 0:
            raise ValueError("train.adversary and train.mixup cannot be combined (a mixed input has no single dataset)")
        if self.gce_q > 0 and self.label_smoothing > 0:
            raise ValueError("train.gce_q and train.label_smoothing cannot be combined (choose one loss)")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        data = {cls.RENAMED.get(k, k): v for k, v in data.items()}
        return super().from_dict(data)


TrainConfig.PRESETS = {
    "paper": lambda: TrainConfig(),
    # A standard regularised small-model recipe fixed in advance (AdamW 1e-3, weight decay 0.05, batches of
    # 64, class-balanced loss, +-1 px shifts, 5 members each validated on its own fifth of the training
    # subjects), then mirror augmentation + test-time mirror averaging, a 40-epoch cosine schedule and no
    # label smoothing, each chosen by inner validation UF1 on training subjects only
    # (benchmarks/inner_validation.py; the record is in docs/results.md).
    "compact": lambda: TrainConfig(epochs=40, lr=1e-3, weight_decay=0.05, batch_size=64, class_weights="balanced",
                                   label_smoothing=0.0, members=5, member_validation=True, shift=1,
                                   mirror=True, mirror_tta=True, schedule="cosine"),
    # compact, fine-tuned from the sim-to-real checkpoint of the model (built once and cached;
    # causalnet.train.simtoreal) and stacked with the linear model on the flow pixels: the two levers kept by
    # inner validation in round 6 of issue 16 (docs/results.md).
    "accurate": lambda: dataclasses.replace(TrainConfig.preset("compact"), init="synthetic", stack="linear"),
}


@dataclass
class ExperimentConfig:
    """Everything a LOSO run needs: which model with which config, how to train, which protocol."""

    model_name: str = "causalnet"
    model: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    protocol: str = "fixed"

    #: the epoch-selection protocol of each preset; all are honest (no test labels).
    PRESET_PROTOCOLS: ClassVar[dict[str, str]] = {"paper": "fixed", "compact": "val", "accurate": "val"}
    PRESETS: ClassVar[tuple[str, ...]] = tuple(PRESET_PROTOCOLS)
    #: the model preset of an experiment preset whose model has no preset of that name
    MODEL_PRESETS: ClassVar[dict[str, str]] = {"accurate": "compact"}

    def __post_init__(self) -> None:
        self.model = make_config(self.model_name, self.model)
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose from {PROTOCOLS}")
        if self.protocol == "val" and not self.train.member_validation:
            raise ValueError("protocol 'val' needs train.member_validation=true (and train.members >= 2)")

    @classmethod
    def preset(cls, name: str, model_name: str = "causalnet") -> ExperimentConfig:
        """The named preset for both the model and its training."""
        config_cls = get_entry(model_name).config_cls
        if name not in config_cls.preset_names() and name in cls.MODEL_PRESETS:
            name_of_model = cls.MODEL_PRESETS[name]
        else:
            name_of_model = name
        model_cfg = config_cls.preset(name_of_model)
        return cls(model_name=model_name, model=model_cfg, train=TrainConfig.preset(name),
                   protocol=cls.PRESET_PROTOCOLS.get(name, "fixed"))

    def to_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model": self.model.to_dict(), "train": self.train.to_dict(),
                "protocol": self.protocol}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentConfig:
        return cls(model_name=data["model_name"], model=make_config(data["model_name"], data["model"]),
                   train=TrainConfig.from_dict(data["train"]), protocol=data.get("protocol", "fixed"))

    def with_overrides(self, overrides: Mapping[str, Any], protocol: str | None = None) -> ExperimentConfig:
        """Apply ``model.<field>``/``train.<field>`` overrides (typed values, or strings parsed to the field's
        type) and, optionally, another protocol; the result is validated as a whole."""
        scoped = split_scopes(overrides, {"model": self.model, "train": self.train})
        return dataclasses.replace(self, model=self.model.with_overrides(scoped.get("model", {})),
                                   train=self.train.with_overrides(scoped.get("train", {})),
                                   protocol=protocol or self.protocol)

    def with_protocol(self, protocol: str) -> ExperimentConfig:
        """A copy under another epoch-selection protocol (validated)."""
        return dataclasses.replace(self, protocol=protocol)
