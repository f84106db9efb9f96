"""The one training loop: any registered model, one or several ensemble members, on any device.

``fit`` trains ``M`` same-architecture models ("members") at once. Each member ``k`` trains on its own
rows of ``x`` with its own batches, class weights and dropout noise; with ``M > 1`` the members'
parameters are stacked and run through ``torch.func.vmap``, so one step costs about as many operator
calls as a single model's (a single member runs without vmap). Adam/AdamW are element-wise, so one
optimiser over the stacked parameters is exactly one independent optimiser per member.

A model may define ``forward_train(x, y) -> (logits, auxiliary_loss)`` (:mod:`causalnet.models.auxiliary`,
e.g. SRMCL's reconstruction and prototype losses): the loop adds the auxiliary loss to its cross-entropy.
With ``train.adversary`` each member is wrapped in a dataset-adversarial training module
(:mod:`causalnet.train.adversarial`) whose domain loss enters the same way.

After every epoch each member predicts its own evaluation rows (e.g. the test subject and its own
validation subjects), so any epoch-selection protocol can be applied afterwards without retraining.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from causalnet.device import autocast
from causalnet.models.auxiliary import functional_training_outputs
from causalnet.models.layout import ImageLayout, InputLayout, input_layout
from causalnet.train.adversarial import DomainAdversarial, pack_targets
from causalnet.train.compiled import CompiledOrEager, compiled_members
from causalnet.train.config import TrainConfig

log = logging.getLogger(__name__)

__all__ = ["class_weights", "draw_variants", "fit", "lr_factor", "mixup_batch", "random_shift"]

#: Rows per forward pass when predicting (bounds memory for large evaluation sets).
EVAL_BATCH = 512


def class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights ``n / (C * count_c)`` from training labels (absent classes get 0)."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(y) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator,
                 layout: InputLayout | None = None) -> torch.Tensor:
    """Translate each sample of ``x`` by a random integer offset in ``[-max_shift, max_shift]`` (edge pixels
    repeated), the same offset for all images of a sample: images ``[B, ..., H, W]``, or a model's prepared
    inputs through its ``layout`` (:mod:`causalnet.models.layout`; the same values either way).

    The offsets are drawn from ``gen`` (a CPU generator) whatever the device of ``x``.
    """
    if max_shift <= 0:
        return x
    offsets = torch.randint(0, 2 * max_shift + 1, (x.shape[0], 2), generator=gen)
    return (layout or ImageLayout()).shift(x, offsets, max_shift)


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    return 1.0


def _loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, cfg: TrainConfig,
          mix: tuple[float, torch.Tensor] | None = None) -> torch.Tensor:
    """Classification loss of ``logits [B, C]`` (:func:`class_loss`); with ``mix = (lam, partner)`` the mixup
    loss ``lam * L(y) + (1 - lam) * L(y[partner])``."""
    loss = class_loss(logits, y, weight, cfg)
    if mix is None:
        return loss
    lam, partner = mix
    return lam * loss + (1.0 - lam) * class_loss(logits, y[partner], weight, cfg)


def class_loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, cfg: TrainConfig) -> torch.Tensor:
    """Mean loss of ``logits [B, C]`` against labels ``y [B]`` (class weights ``weight [C]`` as in
    ``F.cross_entropy``: the weighted mean): cross-entropy (with ``cfg.label_smoothing``), or with
    ``cfg.gce_q = q > 0`` the generalised cross-entropy ``(1 - p_y^q) / q`` (Zhang & Sabuncu, 2018), which
    bounds the loss of a clip the model contradicts and so the pull of a wrong label."""
    if cfg.gce_q == 0:
        return F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=cfg.label_smoothing)
    p_y = torch.softmax(logits.float(), dim=-1).gather(1, y[:, None])[:, 0]
    per_clip = (1.0 - p_y.clamp(min=1e-12) ** cfg.gce_q) / cfg.gce_q
    w = torch.ones_like(per_clip) if weight is None else weight[y]
    return (w * per_clip).sum() / w.sum()


def mixup_batch(xb: torch.Tensor, alpha: float, gen: torch.Generator,
                rng: np.random.Generator) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
    """Mixup of member batches ``xb [M, B, ...]``: each member's batch is mixed with a shuffled copy of
    itself, ``lam * x + (1 - lam) * x[partner]`` with ``lam ~ Beta(alpha, alpha)`` per member.

    Returns the mixed batches and, per member, ``(lam, partner)`` for :func:`_loss`. The partners are
    drawn from ``gen`` (CPU), the weights from ``rng``.
    """
    mixes, out = [], torch.empty_like(xb)
    for k in range(xb.shape[0]):
        lam = float(rng.beta(alpha, alpha))
        partner = torch.randperm(xb.shape[1], generator=gen).to(xb.device)
        out[k] = lam * xb[k] + (1.0 - lam) * xb[k, partner]
        mixes.append((lam, partner))
    return out, mixes


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

    ``table`` is ``[N, V]`` (see :func:`fit`); with ``None`` the rows are ``idx`` itself, and with
    ``V = 1`` the single variant is used without drawing (the generator does not advance).
    """
    if table is None:
        return idx
    if table.shape[1] == 1:
        return table[idx, 0]
    choice = torch.randint(0, table.shape[1], idx.shape, generator=gen)
    return table[idx, choice]


def _domain_labels(domains: np.ndarray | None, n: int) -> torch.Tensor:
    """Validate the per-row source dataset indexes ``[n]`` that ``train.adversary`` needs."""
    if domains is None:
        raise ValueError("train.adversary needs the source dataset of every input row (fit(..., domains=...))")
    d = np.asarray(domains)
    if d.shape != (n,) or not np.issubdtype(d.dtype, np.integer) or (n and d.min() < 0):
        raise ValueError(f"domains must be non-negative integers [len(x)={n}], got {d.dtype} {d.shape}")
    return torch.from_numpy(d.astype(np.int64))


def _adversarial_members(models: list[nn.Module], x: np.ndarray, num_domains: int, weight: float,
                         seed: int) -> list[nn.Module]:
    """Each member wrapped with a domain head (:class:`DomainAdversarial`), the heads seeded from ``seed``."""
    example = torch.from_numpy(np.ascontiguousarray(x[:1])).float()
    wrapped = []
    with torch.random.fork_rng(devices=[]):
        for k, model in enumerate(models):
            torch.manual_seed(seed + k)
            wrapped.append(DomainAdversarial(model, num_domains, weight, example))
    return wrapped


def _eval_layout(eval_sets: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Stack the members' evaluation rows into ``[M, L]`` (shorter sets padded by repetition).

    An entry of ``eval_sets`` is ``[n]`` or ``[n, A]``: with ``A`` columns a row's prediction is the
    mean over the ``A`` inputs (test-time averaging, e.g. a clip and its mirror image); the columns
    are laid out one after another. Returns the index tensor and, per member, ``(n, A)``.
    """
    flat, shapes = [], []
    for e in eval_sets:
        e = np.asarray(e, dtype=np.int64)
        cols = 1 if e.ndim == 1 else e.shape[1]
        shapes.append((len(e), cols))
        flat.append(e if e.ndim == 1 else e.T.reshape(-1))
    longest = max(len(f) for f in flat)
    return torch.stack([torch.from_numpy(np.resize(f, longest)) for f in flat]), shapes


def _average_columns(history: np.ndarray, n: int, cols: int) -> np.ndarray:
    """``[epochs, >= n*cols, C]`` → ``[epochs, n, C]``: the mean over a row's ``cols`` inputs."""
    h = history[:, : n * cols]
    if cols == 1:
        return h
    parts = [h[:, i * n: (i + 1) * n] for i in range(cols)]
    return sum(parts[1:], parts[0]) / cols


def fit(models: list[nn.Module], x: np.ndarray, y: np.ndarray, train_sets: Sequence[np.ndarray],
        cfg: TrainConfig, *, seed: int, num_classes: int, eval_sets: Sequence[np.ndarray],
        device: torch.device | str = "cpu", on_epoch: Callable[[int], None] | None = None,
        variants: np.ndarray | None = None, domains: np.ndarray | None = None) -> list[np.ndarray]:
    """Train the members ``models`` (same architecture) at once; return each member's eval history.

    Args:
        models: ``M`` freshly initialised models (the caller seeds their initialisation); they hold
            the final weights afterwards (on the CPU).
        x: inputs ``[N, ...]`` (float32, or uint8 0–255 values: converted to float32 on the device);
            y: int64 labels ``[N]``.
        train_sets: per member, indexes into ``x`` to train on.
        cfg: epochs, learning rate and schedule, batch size, class weighting, shifts, ``amp``, mixup,
            a weight average (``ema``) and ``compile`` (the members' step compiled: :mod:`causalnet.train.compiled`).
        seed: seeds the batch order, the shifts and the variant draws (a CPU generator, so the draws
            do not depend on the device).
        eval_sets: per member, rows to predict after every epoch: ``[n]``, or ``[n, A]`` to average
            each row's prediction over ``A`` inputs (test-time averaging).
        device: where the models and the data live.
        on_epoch: called with the epoch index after each epoch (progress bars).
        variants: optional int array ``[len(x), V]`` of row indexes into ``x``: alternative inputs of
            each sample (e.g. its mirror image, or the clip re-derived from perturbed key-frames).
            Every time sample ``i`` enters a training batch, the input is ``x[variants[i, v]]`` with
            ``v`` drawn uniformly (per sample and step); label, class weights and batch order stay
            those of ``i``. Evaluation uses ``eval_sets`` as given.
        domains: source dataset index ``[len(x)]`` (0, 1, ...) of every row; needed by, and only used
            by, ``cfg.adversary`` (the dataset-adversarial head learns them on the training rows).

    Returns:
        per member, eval probabilities ``[epochs, n_k, num_classes]``.

    Every epoch has ``ceil(max_k |train_k| / batch)`` steps; a member with fewer samples wraps around
    its own shuffle. A batch larger than the training set gives full-batch steps (the reference).
    """
    from torch.func import stack_module_state

    device = torch.device(device)
    m_count = len(models)
    dt = None
    if cfg.adversary > 0:  # train each member inside a dataset-adversarial wrapper; the members keep the weights
        dt = _domain_labels(domains, len(y))
        models = _adversarial_members(models, x, int(dt.max()) + 1, cfg.adversary, seed)
        dt = dt.to(device)
    for model in models:
        model.to(device)
    # functional_call under vmap can leave a batched tensor in a buffer that several modules share (the
    # sparse mask); keep every module's own buffers to put back afterwards
    own_buffers = [[(mod, name, buf) for mod in model.modules() for name, buf in mod._buffers.items()
                    if buf is not None] for model in models]
    params, buffers = stack_module_state(models)
    base = models[0]
    gen = torch.Generator().manual_seed(seed)
    layout = input_layout(base)  # CausalNet: inputs normalised and patchified once here, not every step
    xt = layout.prepare(_to_device(x, device))
    yt = torch.from_numpy(np.ascontiguousarray(y)).to(device)
    ex_index, eval_shapes = _eval_layout(eval_sets)
    sets = [torch.from_numpy(np.asarray(s, dtype=np.int64)) for s in train_sets]
    weights = [class_weights(y[s], num_classes).to(device) if cfg.class_weights == "balanced" else None
               for s in train_sets]
    batch = min(cfg.batch_size, max(len(s) for s in sets))
    steps = -(-max(len(s) for s in sets) // batch)
    opt, sched = _optimiser(params, cfg, device, cfg.epochs * steps)
    table = _variant_table(variants, y)
    mix_rng = np.random.default_rng(seed) if cfg.mixup > 0 else None
    # with train.ema, an exponential moving average of the weights is evaluated and kept
    ema = {k: v.detach().clone() for k, v in params.items()} if cfg.ema > 0 else None
    evaluated = ema if ema is not None else params
    train_fn, eval_fn = _member_functions(base, m_count, layout.call_kwargs)
    step_fn = CompiledOrEager(_compiled_step(base, m_count, layout.call_kwargs, device) if cfg.compile else None,
                              train_fn)
    history = np.zeros((m_count, cfg.epochs, ex_index.shape[1], num_classes), dtype=np.float32)
    for epoch in range(cfg.epochs):
        base.train()
        orders = [s[torch.randperm(len(s), generator=gen)].repeat(-(-steps * batch // len(s)))[: steps * batch]
                  for s in sets]
        for step in range(steps):
            with record_function("fit.batch"):  # regions named for the profile (benchmarks/fold_profile.py)
                idx = torch.stack([o[step * batch: (step + 1) * batch] for o in orders])  # [M, B]
                rows = draw_variants(idx, table, gen)
                xb = xt.index_select(0, rows.flatten().to(device))  # (3x faster than xt[rows] on a CPU)
                xb = random_shift(xb, cfg.shift, gen, layout).unflatten(0, idx.shape)
                mixes = [None] * m_count
                if mix_rng is not None:
                    xb, mixes = mixup_batch(xb, cfg.mixup, gen, mix_rng)
                yb = yt[idx.to(device)]
                targets = yb if dt is None else pack_targets(yb, dt[idx.to(device)])
            batch_loss = functools.partial(_forward_backward, params=params, buffers=buffers, xb=xb, targets=targets,
                                           yb=yb, weights=weights, mixes=mixes, cfg=cfg, opt=opt, device=device)
            loss = step_fn(batch_loss)  # compiled (train.compile) or eager
            with record_function("fit.optimizer"):
                opt.step()
                sched.step()
                if ema is not None:
                    with torch.no_grad():
                        torch._foreach_lerp_(list(ema.values()), list(params.values()), 1.0 - cfg.ema)
        base.eval()
        if ex_index.shape[1]:
            with record_function("fit.evaluate"):
                history[:, epoch] = _predict_members(eval_fn, evaluated, buffers, xt, ex_index, device, cfg.amp)
        log.debug("epoch %d loss %.4f", epoch, loss.item())
        if on_epoch is not None:
            on_epoch(epoch)
    _write_back(models, own_buffers, evaluated, buffers)
    return [_average_columns(history[k], n, cols) for k, (n, cols) in enumerate(eval_shapes)]


def _forward_backward(fn: Callable, *, params: dict, buffers: dict, xb: torch.Tensor, targets: torch.Tensor,
                      yb: torch.Tensor, weights: list, mixes: list, cfg: TrainConfig, opt: torch.optim.Optimizer,
                      device: torch.device) -> torch.Tensor:
    """One step's forward through the members' function ``fn``, the summed loss and its gradients; returns the
    loss (repeatable until the optimizer steps: :class:`causalnet.train.compiled.CompiledOrEager`)."""
    with record_function("fit.forward"):
        with autocast(device, cfg.amp):
            logits, aux = fn(params, buffers, xb, targets)
        loss = sum(_loss(logits[k], yb[k], weights[k], cfg, mixes[k]) + aux[k].float() for k in range(len(mixes)))
    with record_function("fit.backward"):
        opt.zero_grad(set_to_none=True)
        loss.backward()
    return loss


def _compiled_step(base: nn.Module, m_count: int, call_kwargs: dict, device: torch.device) -> Callable | None:
    """The compiled twin of :func:`_member_functions`' ``train_fn`` (same arguments; of the stacked buffers it
    passes one member's copy on: :mod:`causalnet.train.compiled`), or None where the model cannot be compiled."""
    train = compiled_members(base, m_count, call_kwargs, device)
    if train is None:
        log.info("train.compile: %s (%d member(s)) is not compiled; training eagerly", type(base).__name__, m_count)
        return None
    return lambda p, b, x, t: train(p, {name: v[0] for name, v in b.items()}, x, t)


def _to_device(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """Inputs as float32 on ``device`` (uint8 inputs are converted there; pinned memory on the way to a GPU)."""
    xt = torch.from_numpy(np.ascontiguousarray(x))
    if device.type == "cuda":
        xt = xt.pin_memory()
    return xt.to(device, non_blocking=True).float()


def _optimiser(params: dict[str, torch.Tensor], cfg: TrainConfig, device: torch.device,
               total: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Adam (AdamW with weight decay) over the stacked member parameters, and the step schedule over ``total`` steps."""
    optim_cls = torch.optim.AdamW if cfg.weight_decay > 0 else torch.optim.Adam
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    opt = optim_cls(list(params.values()), lr=cfg.lr, weight_decay=cfg.weight_decay, **fast)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(cfg.schedule, step, total))


def _member_functions(base: nn.Module, m_count: int, call_kwargs: dict | None = None) -> tuple[Callable, Callable]:
    """``(train_fn, eval_fn)`` over stacked member weights: ``train_fn(p, b, x [M, B, ...], y [M, B])`` ->
    (logits ``[M, B, C]``, auxiliary losses ``[M]``), with ``vmap`` over the members (one member: the plain
    model), and ``eval_fn(p, b, x [M, B, ...])`` -> logits, each member's plain forward in turn; ``call_kwargs``
    go to the model's forward (the input layout's, e.g. ``prepared=True``)."""
    from torch.func import functional_call, vmap

    kwargs = dict(call_kwargs or {})

    def call(p, b, inputs):
        return functional_call(base, (p, b), (inputs,), kwargs)

    train_call = functional_training_outputs(base, **kwargs)  # (logits, auxiliary loss): models.auxiliary's hook
    member = lambda t, k: {name: v[k] for name, v in t.items()}  # noqa: E731

    def eval_fn(p, b, inputs):
        # one member after the other, not vmap: without autograd the plain forward is cheaper than vmap's
        # batched convolutions and layer norms (docs/speed.md, benchmarks/step_levers.py)
        return torch.stack([call(member(p, k), member(b, k), inputs[k]) for k in range(inputs.shape[0])])

    if m_count > 1:
        return vmap(train_call, in_dims=(0, 0, 0, 0), randomness="different"), eval_fn

    def train_fn(p, b, inputs, targets):
        logits, aux = train_call(member(p, 0), member(b, 0), inputs[0], targets[0])
        return logits[None], aux[None]

    return train_fn, eval_fn


def _predict_members(eval_fn: Callable, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                     xt: torch.Tensor, ex_index: torch.Tensor, device: torch.device, amp: bool) -> np.ndarray:
    """Every member's probabilities ``[M, n, C]`` of its eval rows ``ex_index [M, n]``, in batches."""
    parts = []
    with torch.inference_mode(), autocast(device, amp):
        for start in range(0, ex_index.shape[1], EVAL_BATCH):
            part = ex_index[:, start: start + EVAL_BATCH]
            inputs = xt.index_select(0, part.flatten().to(device)).unflatten(0, part.shape)
            parts.append(eval_fn(params, buffers, inputs).float().softmax(dim=-1).cpu().numpy())
    return np.concatenate(parts, axis=1)


@torch.no_grad()
def _write_back(models: list[nn.Module], own_buffers: list, params: dict[str, torch.Tensor],
                buffers: dict[str, torch.Tensor]) -> None:
    """Copy each member's trained weights and buffers back into its model (on the CPU afterwards)."""
    for k, model in enumerate(models):
        for mod, name, buf in own_buffers[k]:
            mod._buffers[name] = buf
        for name, p in model.named_parameters():
            p.copy_(params[name][k])
        for name, b in model.named_buffers():  # trained buffers, e.g. batch-norm statistics
            b.copy_(buffers[name][k])
        model.cpu()
