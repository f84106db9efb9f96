"""Training: typed configs, the one training loop, LOSO runs and honest hyperparameter sweeps.

Protocols, metrics and the predictions file live in :mod:`causalnet.eval`; folds run on
:mod:`causalnet.engine` (local processes or Ray, CPU or CUDA), which receives :func:`causalnet.train.fold.run_fold`
as the function that trains one fold. Modules: ``config`` (typed configs), ``loop`` (the one training
loop), ``inputs`` (model-input rows), ``fold`` (a fold as an engine job), ``pretrain`` (initialising from a
checkpoint, masked pretraining), ``deploy`` (one model on every clip), ``simtoreal`` (the synthetic
checkpoint), ``loso`` (LOSO runs), ``sweep`` (nested LOSO), ``stacking``, ``adversarial``.
"""

from causalnet.eval.predictions import metrics_from_rows, read_predictions
from causalnet.eval.protocols import PROTOCOLS, select_epoch
from causalnet.inference import predict_proba
from causalnet.train.config import ExperimentConfig, TrainConfig
from causalnet.train.deploy import train_all
from causalnet.train.loop import fit
from causalnet.train.loso import LosoRun, fold_seed


def run_experiment(clips, cfg: ExperimentConfig, out_dir, subjects=None, runs: int = 1, progress: bool = False,
                   workers: int = 1, checkpoints: bool = False, backend=None, device: str = "cpu") -> dict:
    """Run (or resume) a LOSO experiment into ``out_dir`` and return its metrics (see :class:`LosoRun`)."""
    return LosoRun(out_dir, clips, cfg, runs=runs, subjects=subjects, checkpoints=checkpoints).run(
        progress=progress, workers=workers, backend=backend, device=device)


__all__ = ["PROTOCOLS", "ExperimentConfig", "LosoRun", "TrainConfig", "fit", "fold_seed", "metrics_from_rows",
           "predict_proba", "read_predictions", "run_experiment", "select_epoch", "train_all"]
