"""The model-agnostic training loop: any ``nn.Module`` mapping ``[B, ...]`` inputs to logits."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from causalnet.train.config import TrainConfig

log = logging.getLogger(__name__)


def class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights ``n / (C * count_c)`` from training labels (absent classes get 0)."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(y) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each sample's images ``[B, ..., H, W]`` by a random integer offset in
    ``[-max_shift, max_shift]`` (edge pixels repeated), the same offset for all images of a sample."""
    if max_shift <= 0:
        return x
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    lead = x.shape[1:-2]
    flat = x.reshape(b, -1, h, w)
    padded = F.pad(flat, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=gen)
    out = torch.empty_like(flat)
    for dy, dx in torch.unique(offsets, dim=0).tolist():
        sel = (offsets[:, 0] == dy) & (offsets[:, 1] == dx)
        out[sel] = padded[sel, :, dy: dy + h, dx: dx + w]
    return out.reshape(b, *lead, h, w)


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    return 1.0


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(cfg.schedule, step, total_steps))


def _autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def _loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, cfg: TrainConfig) -> torch.Tensor:
    return F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=cfg.label_smoothing)


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 512, bf16: bool = False) -> np.ndarray:
    """Class probabilities ``[N, C]`` (float32) of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        with _autocast(bf16):
            out.append(model(x[start: start + batch_size]).float().softmax(dim=-1))
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, *, seed: int, num_classes: int,
        eval_x: np.ndarray | None = None,
        on_epoch: Callable[[int], None] | None = None,
        variants: np.ndarray | None = None, train_rows: np.ndarray | None = None) -> np.ndarray | None:
    """Train ``model`` on ``(x, y)`` with Adam and cross-entropy; return per-epoch eval probabilities.

    Args:
        x: float32 inputs ``[N, ...]``; y: int64 labels ``[N]``.
        cfg: epochs, learning rate, batch size, class weighting, bf16.
        seed: seeds the batch order (the caller seeds the model's initialisation).
        eval_x: if given, after every epoch the model predicts these; the result is
            ``[epochs, len(eval_x), num_classes]`` (so any epoch-selection protocol can be applied
            afterwards without retraining).
        on_epoch: called with the epoch index after each epoch (progress bars).
        variants: optional ``[N, V]`` alternative input rows of each sample, as in :func:`fit_members`.
        train_rows: indexes of the samples to train on (default: all of ``x``); with ``variants`` the
            other rows of ``x`` can hold the alternative inputs.
    """
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    ex = torch.from_numpy(np.ascontiguousarray(eval_x)) if eval_x is not None else None
    rows = torch.arange(len(xt)) if train_rows is None else torch.from_numpy(np.asarray(train_rows, dtype=np.int64))
    weight = class_weights(y[rows.numpy()], num_classes) if cfg.class_weights == "balanced" else None
    optim_cls = torch.optim.AdamW if cfg.weight_decay > 0 else torch.optim.Adam
    opt = optim_cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    history = np.zeros((cfg.epochs, len(ex), num_classes), dtype=np.float32) if ex is not None else None
    table = _variant_table(variants, y)
    n = len(rows)
    sched = _scheduler(opt, cfg, cfg.epochs * -(-n // cfg.batch_size))
    for epoch in range(cfg.epochs):
        model.train()
        order = rows[torch.randperm(n, generator=gen)] if cfg.batch_size < n else rows
        for start in range(0, n, cfg.batch_size):
            idx = order[start: start + cfg.batch_size]
            with _autocast(cfg.bf16):
                logits = model(random_shift(xt[draw_variants(idx, table, gen)], cfg.shift, gen))
            loss = _loss(logits, yt[idx], weight, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if history is not None:
            history[epoch] = predict_proba(model, ex, bf16=cfg.bf16)
        log.debug("epoch %d loss %.4f", epoch, loss.item())
        if on_epoch is not None:
            on_epoch(epoch)
    return history


def _variant_table(variants: np.ndarray | None, y: np.ndarray) -> torch.Tensor | None:
    """Validate a ``[N, V]`` variant table (row indexes into ``x``, same label as the sample) as a tensor."""
    if variants is None:
        return None
    table = np.asarray(variants)
    n = len(y)
    if table.ndim != 2 or table.shape[0] != n or table.shape[1] < 1 or not np.issubdtype(table.dtype, np.integer):
        raise ValueError(f"variants must be an integer array [len(x)={n}, V >= 1], got {table.dtype} {table.shape}")
    if table.min() < 0 or table.max() >= n:
        raise ValueError(f"variants index rows outside x (0..{n - 1})")
    if (y[table] != y[:, None]).any():
        raise ValueError("a variant row carries another label than its sample")
    return torch.from_numpy(table.astype(np.int64))


def draw_variants(idx: torch.Tensor, table: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    """Input rows for sample indexes ``idx`` (any shape): one uniformly drawn variant per entry.

    ``table`` is ``[N, V]`` (see :func:`fit_members`); with ``None`` the rows are ``idx`` itself, and with
    ``V = 1`` the single variant is used without drawing (the generator does not advance).
    """
    if table is None:
        return idx
    if table.shape[1] == 1:
        return table[idx, 0]
    choice = torch.randint(0, table.shape[1], idx.shape, generator=gen)
    return table[idx, choice]


def fit_members(models: list[nn.Module], x: np.ndarray, y: np.ndarray, train_sets: list[np.ndarray],
                cfg: TrainConfig, *, seed: int, num_classes: int, eval_sets: list[np.ndarray],
                on_epoch: Callable[[int], None] | None = None,
                variants: np.ndarray | None = None) -> list[np.ndarray]:
    """Train several same-architecture models at once (one vectorised step for all); return eval history.

    Each member ``k`` trains on ``x[train_sets[k]]`` with its own batches, class weights and dropout
    noise; the members' parameters are stacked and run through ``torch.func.vmap``, so one step costs
    about as many operator calls as a single model's. Adam/AdamW are element-wise, so one optimiser
    over the stacked parameters is exactly one independent optimiser per member. Every epoch has
    ``ceil(max_k |train_k| / batch)`` steps; a member with fewer samples wraps around its own shuffle.

    Args:
        train_sets, eval_sets: per member, indexes into ``x`` to train on and to predict after every
            epoch (e.g. the test subject and the member's own validation subjects).
        variants: optional int array ``[len(x), V]`` of row indexes into ``x``: alternative inputs of
            each sample (e.g. the same clip's images re-derived from perturbed key-frames). When
            given, every time sample ``i`` enters a training batch, the input is ``x[variants[i, v]]``
            with ``v`` drawn uniformly from ``0..V-1`` (per sample and step); the label, the class
            weights and the batch order stay those of ``i``. Rows of a sample's variants must carry
            its label. Evaluation always uses ``x[eval_sets[k]]`` as given. ``None`` (or ``V = 1``
            with ``variants[:, 0] = arange``) trains on ``x[i]`` itself, exactly as without it.

    Returns:
        per member, eval probabilities ``[epochs, len(eval_sets[k]), num_classes]``; the ``models``
        hold the final weights afterwards.
    """
    from torch.func import functional_call, stack_module_state, vmap

    m_count = len(models)
    params, buffers = stack_module_state(models)
    base = models[0]
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    longest = max(len(e) for e in eval_sets)
    ex = xt[torch.stack([torch.from_numpy(np.resize(np.asarray(e, dtype=np.int64), longest)) for e in eval_sets])]
    sets = [torch.from_numpy(np.asarray(s, dtype=np.int64)) for s in train_sets]
    weights = [class_weights(y[s], num_classes) if cfg.class_weights == "balanced" else None for s in train_sets]
    batch = min(cfg.batch_size, max(len(s) for s in sets))
    steps = -(-max(len(s) for s in sets) // batch)
    optim_cls = torch.optim.AdamW if cfg.weight_decay > 0 else torch.optim.Adam
    opt = optim_cls(list(params.values()), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    table = _variant_table(variants, y)
    sched = _scheduler(opt, cfg, cfg.epochs * steps)

    def call(p, b, inputs):
        return functional_call(base, (p, b), (inputs,))

    train_fn = vmap(call, in_dims=(0, 0, 0), randomness="different")
    eval_fn = vmap(call, in_dims=(0, 0, 0))
    history = np.zeros((m_count, cfg.epochs, longest, num_classes), dtype=np.float32)
    for epoch in range(cfg.epochs):
        base.train()
        orders = [s[torch.randperm(len(s), generator=gen)].repeat(-(-steps * batch // len(s)))[: steps * batch]
                  for s in sets]
        for step in range(steps):
            idx = torch.stack([o[step * batch: (step + 1) * batch] for o in orders])  # [M, B]
            rows = draw_variants(idx, table, gen)
            xb = random_shift(xt[rows.flatten()], cfg.shift, gen).unflatten(0, idx.shape)
            with _autocast(cfg.bf16):
                logits = train_fn(params, buffers, xb)
            loss = sum(_loss(logits[k], yt[idx[k]], weights[k], cfg) for k in range(m_count))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        base.eval()
        with torch.no_grad(), _autocast(cfg.bf16):
            history[:, epoch] = eval_fn(params, buffers, ex).float().softmax(dim=-1).numpy()
        if on_epoch is not None:
            on_epoch(epoch)
    with torch.no_grad():
        for k, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(params[name][k])
    return [history[k, :, : len(e)] for k, e in enumerate(eval_sets)]
