"""Training: typed configs, the model-agnostic loop, epoch-selection protocols and LOSO runs."""

from causalnet.train.config import ExperimentConfig, TrainConfig
from causalnet.train.loop import fit, predict_proba
from causalnet.train.loso import LosoRun, fold_seed, metrics_from_rows, read_predictions, train_all
from causalnet.train.protocols import PROTOCOLS, select_epoch


def run_experiment(clips, cfg: ExperimentConfig, out_dir, subjects=None, runs: int = 1, progress: bool = False,
                   workers: int = 1, checkpoints: bool = False) -> dict:
    """Run (or resume) a LOSO experiment into ``out_dir`` and return its metrics (see :class:`LosoRun`)."""
    return LosoRun(out_dir, clips, cfg, runs=runs, subjects=subjects, checkpoints=checkpoints).run(
        progress=progress, workers=workers)


__all__ = ["PROTOCOLS", "ExperimentConfig", "LosoRun", "TrainConfig", "fit", "fold_seed", "metrics_from_rows",
           "predict_proba", "read_predictions", "run_experiment", "select_epoch", "train_all"]
