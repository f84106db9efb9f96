"""Sim-to-real pretraining made on demand: ``train.init=synthetic`` (the ``accurate`` preset).

The checkpoint that initialises every member is trained on a synthetic benchmark
(:func:`causalnet.synth.generate_benchmark`) preprocessed exactly like real clips (TV-L1 flow, 28 × 28
images, direction maps; ``causalnet preprocess --face none``), with the labels of the synthetic clips —
no real clip, so no test subject, is seen. The recipe (:class:`SimToRealConfig`) is fixed; the default is
the one measured in docs/results.md (round 6): 40 subjects × 24 clips, synthetic seed 100, the
``compact`` training preset. It equals the three documented commands::

    causalnet synth --preset default --subjects 40 --clips-per-subject 24 --seed 100 --out S
    causalnet preprocess --raw S --format generic --face none --out S_of
    causalnet train --data S_of --preset compact --save-model CHECKPOINT

The checkpoint is built once per (model, model config, recipe) and kept in a cache folder
(``$CAUSALNET_CACHE``, default ``~/.cache/causalnet``) under ``pretrained/<model>-synthetic-<hash>.safetensors``;
it is written atomically, so a crash during the build leaves no half file and the next run rebuilds it.
The build is deterministic on one machine (the same bytes each time); on another machine the floating-point
results of training may differ within rounding. Nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from causalnet.checks import Check, between, one_of
from causalnet.config import PresetMixin, config_hash, config_signature
from causalnet.folders import file_lock
from causalnet.synth.config import SynthConfig

if TYPE_CHECKING:
    from causalnet.train.config import ExperimentConfig

__all__ = ["SYNTHETIC", "SimToRealConfig", "cache_root", "checkpoint_path", "default_checkpoint",
           "resolve_experiment", "resolve_init", "synthetic_checkpoint"]

log = logging.getLogger(__name__)

#: the value of ``train.init`` that names the sim-to-real checkpoint of the run's own model
SYNTHETIC = "synthetic"

#: bump when the build changes in a way the recipe does not record (invalidates cached checkpoints)
BUILD_VERSION = 1


@dataclass
class SimToRealConfig(PresetMixin):
    """How the ``train.init=synthetic`` checkpoint is made.

    Attributes:
        subjects: synthetic subjects; clips_per_subject: clips of each.
        seed: seed of the synthetic benchmark (the training seed is the training preset's).
        synth_preset: :class:`causalnet.synth.SynthConfig` preset.
        train_preset: :class:`causalnet.train.TrainConfig` preset the model is pretrained with
            (``train.stack`` and ``train.init`` of it are not used).
    """

    subjects: int = 40
    clips_per_subject: int = 24
    seed: int = 100
    synth_preset: str = "default"
    train_preset: str = "compact"

    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "subjects": between(2, 10_000), "clips_per_subject": between(1, 10_000), "seed": between(0, 2**32 - 1),
        "synth_preset": one_of(*SynthConfig.PRESETS), "train_preset": one_of("paper", "compact"),
    }


SimToRealConfig.PRESETS = {"default": lambda: SimToRealConfig()}


def cache_root() -> Path:
    """The cache folder: ``$CAUSALNET_CACHE`` or ``~/.cache/causalnet``."""
    env = os.environ.get("CAUSALNET_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "causalnet"


def checkpoint_path(model_name: str, model_config: Any, recipe: SimToRealConfig, cache: Path | None = None) -> Path:
    """Where the checkpoint of ``model_name`` with ``model_config`` made by ``recipe`` is kept."""
    key = config_hash({"version": BUILD_VERSION, "model": model_name, "config": config_signature(model_config),
                       "recipe": config_signature(recipe)}, digits=16)
    return (cache or cache_root()) / "pretrained" / f"{model_name}-synthetic-{key}.safetensors"


def synthetic_checkpoint(model_name: str, model_config: Any, recipe: SimToRealConfig | None = None,
                         cache: Path | None = None, workers: int = 1, progress: bool = False) -> Path:
    """The path of the sim-to-real checkpoint of ``model_name`` with ``model_config``, built first if missing.

    Building generates the synthetic benchmark and preprocesses it in a temporary folder beside the
    cache (``workers`` processes), trains the model on every synthetic clip and writes the checkpoint
    atomically (about 20 minutes on 2 CPU cores for the default recipe).
    """
    from causalnet.synth import CLASS_NAMES

    if model_config.num_classes != len(CLASS_NAMES):  # checked before any work
        raise ValueError(f"train.init=synthetic: the synthetic benchmark has {len(CLASS_NAMES)} classes, the model "
                         f"model.num_classes={model_config.num_classes}; give a checkpoint path instead")
    recipe = recipe or SimToRealConfig()
    path = checkpoint_path(model_name, model_config, recipe, cache)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock")):  # concurrent runs: one builds, the others wait
        if not path.is_file():
            _build(path, model_name, model_config, recipe, workers, progress)
    return path


def _build(path: Path, model_name: str, model_config: Any, recipe: SimToRealConfig, workers: int,
           progress: bool) -> None:
    log.info("building the sim-to-real checkpoint %s (%d synthetic subjects x %d clips; once, then cached)",
             path, recipe.subjects, recipe.clips_per_subject)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        clips = _synthetic_clips(Path(tmp), recipe, workers, progress)
        _pretrain(clips, model_name, model_config, recipe, path, progress)
    log.info("sim-to-real checkpoint written: %s", path)


def _synthetic_clips(tmp: Path, recipe: SimToRealConfig, workers: int, progress: bool):
    """Generate and preprocess the recipe's synthetic benchmark under ``tmp``; the loaded clips."""
    import dataclasses

    from causalnet.flow.config import PreprocessConfig
    from causalnet.synth.pipeline import synthetic_benchmark

    synth = SynthConfig.preset(recipe.synth_preset).with_overrides(
        {"n_subjects": recipe.subjects, "clips_per_subject": recipe.clips_per_subject, "seed": recipe.seed})
    prep = dataclasses.replace(PreprocessConfig.preset("default"), face_method="none")
    return synthetic_benchmark(synth, tmp / "raw", tmp / "flow", prep, workers=workers, progress=progress).clips


def _pretrain(clips, model_name: str, model_config: Any, recipe: SimToRealConfig, path: Path, progress: bool) -> None:
    """Train ``model_name`` on ``clips`` with the recipe's training preset and save it to ``path``."""
    from tqdm.auto import tqdm

    from causalnet.models import save_checkpoint
    from causalnet.train.config import ExperimentConfig, TrainConfig
    from causalnet.train.deploy import train_all

    train = TrainConfig.preset(recipe.train_preset)
    cfg = ExperimentConfig(model_name=model_name, model=model_config, train=train)
    with tqdm(total=train.epochs, desc="sim-to-real pretraining", unit="epoch", disable=not progress) as bar:
        model = train_all(clips, cfg, on_epoch=lambda _: bar.update(1))
    save_checkpoint(path, model, extra={"class_names": list(clips.class_names), "train": train.to_dict(),
                                        "clips": len(clips), "objective": "classify",
                                        "sim_to_real": recipe.to_dict()})


def default_checkpoint(model_name: str, model_config: Any) -> Path:
    """Where ``train.init=synthetic`` finds (or builds) the checkpoint: the ``default`` recipe, the cache root."""
    return checkpoint_path(model_name, model_config, SimToRealConfig.preset("default"))


def resolve_experiment(cfg: ExperimentConfig, progress: bool = False) -> ExperimentConfig:
    """``cfg`` with ``train.init`` resolved, in the driver and before any fold, to a checkpoint path that has
    been opened and validated (same model and config, sound finite weights): ``synthetic`` becomes the
    sim-to-real checkpoint (built here if the cache lacks it, so that its progress shows in this process),
    a path is checked. Workers then receive the path; a bad file is one clear error before any work."""
    from causalnet.train.pretrain import load_init

    init = resolve_init(cfg.train.init, cfg.model_name, cfg.model, progress=progress)
    if init:
        load_init(init, cfg.model_name, cfg.model)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init=init))


def resolve_init(init: str, model_name: str, model_config: Any, progress: bool = False) -> str:
    """``train.init`` as a checkpoint path: :data:`SYNTHETIC` becomes the (built if missing) sim-to-real
    checkpoint of the model; a path or ``""`` is returned as is."""
    if init != SYNTHETIC:
        return init
    workers = max(1, min(os.cpu_count() or 1, 8))
    return str(synthetic_checkpoint(model_name, model_config, SimToRealConfig.preset("default"), workers=workers,
                                    progress=progress))
