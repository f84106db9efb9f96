"""The authors' released checkpoints: their state-dict layout mapped onto :class:`CausalNet`.

The authors publish one ``<subject>.pth`` per LOSO fold: a plain PyTorch state dict of their model
(layout in ``shared/reference/README.md``). :func:`from_reference_state_dict` turns one into a
``CausalNet`` of the ``paper`` preset that computes the same function:

- 1x1 convolutions (``[out, in, 1, 1]``) become ``nn.Linear`` weights (``[out, in]``);
- channel LayerNorms (``.g`` / ``.b``, ``[1, C, 1, 1]``) become ``nn.LayerNorm`` weight and bias;
- CMPLM's ``to_kv`` (``[2D, D]``: K then V) becomes ``to_k`` and ``to_v``; the CAB's spatial
  ``to_q`` and ``to_kv`` become one ``to_qkv``; the CRM stored inside the CAB layer (``.3``)
  becomes ``CausalNet.crm``;
- the buffers ``M_mask`` / ``P_matrix`` must hold the sparse mask and the pseudo-attention of
  SPEC §3 (they give γ); anything else is refused.

(l1, l2, l3), the width, the number of classes, the head width and γ are read from the state
dict; every other choice is the reference's (the ``paper`` preset). Every mismatch is a
``ValueError`` naming the first missing or unexpected key or the first wrong shape.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from causalnet.models.causalnet import CausalNet, CausalNetConfig
from causalnet.models.checkpoint import build_on_meta, check_finite, materialise_buffers
from causalnet.models.masking import pseudo_attention, sparse_mask

log = logging.getLogger(__name__)

#: the prefix ``nn.DataParallel`` gives every key of the wrapped model.
DATA_PARALLEL_PREFIX = "module."
#: reference key of each encoder's patch embedding and levels: (motion, direction).
ENCODERS = (("motion_encoder", "to_patch_embedding", "layers"), ("direction_encoder", "to_patch_embedding1", "layers1"))
#: layouts of reference tensors that differ from ours.
PLAIN, CONV1X1, CHANNEL = "plain", "conv1x1", "channel"


@dataclass(frozen=True)
class Rule:
    """Our tensor ``target`` = row block ``part`` of the reference tensors ``sources`` concatenated on dim 0.

    Attributes:
        shares: relative row counts of the sources (``(1, 2)``: ``to_q`` [D] then ``to_kv`` [2D]).
        part: ``(index, count)``: which of ``count`` equal row blocks of the concatenation.
        layout: how the reference stores it: ``plain`` (as we do), ``conv1x1`` (trailing ``1, 1``),
            ``channel`` (a channel LayerNorm's ``[1, C, 1, 1]``).
    """

    target: str
    sources: tuple[str, ...]
    shares: tuple[int, ...] = (1,)
    part: tuple[int, int] = (0, 1)
    layout: str = PLAIN

    def source_shapes(self, target_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The shape each source must have for our tensor to have ``target_shape``."""
        rows = target_shape[0] * self.part[1]
        shapes = {}
        for key, share in zip(self.sources, self.shares, strict=True):
            shape = (rows * share // sum(self.shares), *target_shape[1:])
            shapes[key] = {CONV1X1: (*shape, 1, 1), CHANNEL: (1, *shape, 1, 1)}.get(self.layout, shape)
        return shapes

    def apply(self, state: Mapping[str, Tensor]) -> Tensor:
        """Our tensor from the reference tensors (shapes already checked)."""
        parts = [_to_ours(state[k], self.layout) for k in self.sources]
        whole = parts[0] if len(parts) == 1 else torch.cat(parts)
        index, count = self.part
        return whole.chunk(count)[index]


def _to_ours(tensor: Tensor, layout: str) -> Tensor:
    if layout == CONV1X1:
        return tensor.flatten(1)  # [out, in, 1, 1] -> [out, in]
    if layout == CHANNEL:
        return tensor.reshape(-1)  # [1, C, 1, 1] -> [C]
    return tensor


def _linear(ours: str, theirs: str, layout: str = PLAIN, bias: bool = True) -> Iterator[Rule]:
    yield Rule(f"{ours}.weight", (f"{theirs}.weight",), layout=layout)
    if bias:
        yield Rule(f"{ours}.bias", (f"{theirs}.bias",))


def _layer_norm(ours: str, theirs: str, channel: bool = False) -> Iterator[Rule]:
    names = ("g", "b") if channel else ("weight", "bias")
    yield Rule(f"{ours}.weight", (f"{theirs}.{names[0]}",), layout=CHANNEL if channel else PLAIN)
    yield Rule(f"{ours}.bias", (f"{theirs}.{names[1]}",), layout=CHANNEL if channel else PLAIN)


def _feed_forward(ours: str, theirs: str, layout: str = PLAIN) -> Iterator[Rule]:
    yield from _linear(f"{ours}.net.0", f"{theirs}.0", layout)
    yield from _linear(f"{ours}.net.3", f"{theirs}.3", layout)


def _encoder_rules(cfg: CausalNetConfig, ours: str, embed: str, levels: str) -> Iterator[Rule]:
    yield from _linear(f"{ours}.patch_embed.1", f"{embed}.1", CONV1X1)
    for level, depth in enumerate(cfg.depths):
        stage, ref = f"{ours}.stages.{2 * level}", f"{levels}.{level}.0"
        yield Rule(f"{stage}.pos_emb", (f"{ref}.pos_emb",))
        for block in range(depth):
            mine, theirs = f"{stage}.layers.{block}", f"{ref}.layers.{block}"
            yield from _layer_norm(f"{mine}.0.norm", f"{theirs}.0.norm", channel=True)
            yield from _linear(f"{mine}.0.fn.to_qkv", f"{theirs}.0.fn.to_qkv", CONV1X1, bias=False)
            yield from _linear(f"{mine}.0.fn.to_out", f"{theirs}.0.fn.to_out.0", CONV1X1)
            yield from _layer_norm(f"{mine}.1.norm", f"{theirs}.1.norm", channel=True)
            yield from _feed_forward(f"{mine}.1.fn", f"{theirs}.1.fn.net", CONV1X1)
        if level < len(cfg.depths) - 1:
            agg, theirs = f"{ours}.stages.{2 * level + 1}", f"{levels}.{level}.1"
            yield from _linear(f"{agg}.conv", f"{theirs}.0")
            yield from _layer_norm(f"{agg}.norm", f"{theirs}.1", channel=True)


def _cmplm_rules(depth: int) -> Iterator[Rule]:
    for k in range(depth):
        ours, theirs = f"cmplm.layers.{k}", f"CrossAttention.layers.{k}"
        yield from _layer_norm(f"{ours}.norm", f"{theirs}.0")
        yield from _linear(f"{ours}.attn.to_q", f"{theirs}.1.to_q")
        for index, name in enumerate(("to_k", "to_v")):  # to_kv: K rows, then V rows
            for kind in ("weight", "bias"):
                yield Rule(f"{ours}.attn.{name}.{kind}", (f"{theirs}.1.to_kv.{kind}",), part=(index, 2))
        yield from _linear(f"{ours}.attn.to_out", f"{theirs}.1.to_out.0")
        yield from _feed_forward(f"{ours}.ff", f"{theirs}.2")


def _cab_rules() -> Iterator[Rule]:
    ours, theirs = "cab.layers.0", "cab.layers.0"
    yield from _layer_norm(f"{ours}.norm", f"{theirs}.0")
    for kind in ("weight", "bias"):  # spatial to_q + to_kv = our to_qkv (q, k, v rows)
        yield Rule(f"{ours}.spatial.to_qkv.{kind}", (f"{theirs}.1.to_q.{kind}", f"{theirs}.1.to_kv.{kind}"),
                   shares=(1, 2))
    yield from _linear(f"{ours}.spatial.to_out", f"{theirs}.1.to_out.0")
    yield from _linear(f"{ours}.temporal.to_q", f"{theirs}.1.temp_to_q")
    yield from _linear(f"{ours}.temporal.to_kv", f"{theirs}.1.temp_to_kv")
    yield from _linear(f"{ours}.temporal.to_out", f"{theirs}.1.temp_to_out.0")
    yield from _feed_forward(f"{ours}.ff", f"{theirs}.2")
    for name in ("to_q", "to_k", "to_v"):
        yield from _linear(f"crm.{name}", f"{theirs}.3.{name}")
    yield from _linear("crm.to_out", f"{theirs}.3.to_out.0")


def reference_rules(cfg: CausalNetConfig) -> list[Rule]:
    """How every tensor of ``CausalNet(cfg)`` (a reference-layout config) is read from a reference state dict."""
    rules = [r for ours, embed, levels in ENCODERS for r in _encoder_rules(cfg, ours, embed, levels)]
    rules += [*_cmplm_rules(_cmplm_depth(cfg)), *_cab_rules()]
    rules += [*_linear("head.0", "mlp_head.0"), *_linear("head.2", "mlp_head.1")]
    return rules


def mask_buffer_keys(cfg: CausalNetConfig) -> list[str]:
    """The reference's mask buffers: one ``M_mask`` / ``P_matrix`` pair per masked attention module."""
    owners = [f"CrossAttention.layers.{k}.1" for k in range(_cmplm_depth(cfg))] + ["cab.layers.0.1"]
    return [f"{owner}.{name}" for owner in owners for name in ("M_mask", "P_matrix")]


def _cmplm_depth(cfg: CausalNetConfig) -> int:
    return cfg.cmplm_depth if cfg.cmplm_depth is not None else cfg.depths[-1]


# -- reading a state dict ---------------------------------------------------------------------------
def strip_data_parallel(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The state dict without the ``module.`` prefix ``nn.DataParallel`` adds (when every key has it)."""
    if state and all(k.startswith(DATA_PARALLEL_PREFIX) for k in state):
        return {k[len(DATA_PARALLEL_PREFIX):]: v for k, v in state.items()}
    return dict(state)


def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise ValueError(f"not a CausalNet reference state dict: missing key {key!r}")
    return tuple(state[key].shape)


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    """How many consecutive indexes ``i = 0, 1, ...`` have a key starting with ``pattern.format(i)``."""
    n = 0
    while any(k.startswith(pattern.format(n)) for k in state):
        n += 1
    return n


def infer_config(state: Mapping[str, Tensor]) -> CausalNetConfig:
    """The ``paper``-preset config a reference state dict was saved from (sizes read from its shapes)."""
    dim, patch_numel = _shape(state, "to_patch_embedding.1.weight")[:2]
    cfg = CausalNetConfig.preset("paper")
    patch = math.isqrt(patch_numel // cfg.in_channels)
    if patch * patch * cfg.in_channels != patch_numel:
        raise ValueError(f"to_patch_embedding.1.weight: {patch_numel} inputs is not a square patch of "
                         f"{cfg.in_channels} channels")
    levels = _count(state, "layers.{}.0.pos_emb")
    if not levels:
        raise ValueError("not a CausalNet reference state dict: missing key 'layers.0.0.pos_emb'")
    depths = tuple(_count(state, f"layers.{level}.0.layers.{{}}.") for level in range(levels))
    cmplm_depth = _count(state, "CrossAttention.layers.{}.")
    hidden = _shape(state, "mlp_head.0.weight")[0]
    classes = _shape(state, "mlp_head.1.weight")[0]
    try:
        cfg = cfg.with_overrides({"dim": dim, "patch_size": patch, "depths": depths, "num_classes": classes,
                                  "head_hidden": hidden,
                                  "cmplm_depth": None if cmplm_depth == depths[-1] else cmplm_depth})
    except ValueError as exc:
        raise ValueError(f"not a CausalNet reference state dict of a usable size: {exc}") from None
    return cfg.with_overrides({"gamma": _gamma(state, cfg)})


def _gamma(state: Mapping[str, Tensor], cfg: CausalNetConfig) -> float:
    """γ from the first ``P_matrix`` (``-γ·j`` at masked positions); every mask buffer is checked later."""
    key = mask_buffer_keys(cfg)[1]
    pseudo, mask = state[key] if key in state else None, sparse_mask(cfg.token_grid, cfg.token_grid, cfg.mask_radius)
    if pseudo is None or tuple(pseudo.shape) != tuple(mask.shape):
        return cfg.gamma  # the key/shape check names the problem
    masked = mask == 0
    columns = torch.arange(1, mask.shape[1] + 1, dtype=torch.float32).expand_as(mask)
    gamma = float((-pseudo.float()[masked] / columns[masked]).mean())
    if not gamma > 0:
        raise ValueError(f"{key}: expected -gamma*j (gamma > 0) at the masked positions, got "
                         f"{pseudo[masked].tolist()}")
    return gamma


def check_layout(state: Mapping[str, Tensor], cfg: CausalNetConfig, rules: list[Rule],
                 shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Raise ``ValueError`` naming the first missing key, unexpected key, wrong shape or wrong mask buffer.

    ``shapes``: our model's tensor shapes for ``cfg`` (what the rules must produce).
    """
    expected: dict[str, tuple[int, ...]] = {}
    for rule in rules:
        expected.update(rule.source_shapes(shapes[rule.target]))
    mask = sparse_mask(cfg.token_grid, cfg.token_grid, cfg.mask_radius)
    buffers = dict.fromkeys(mask_buffer_keys(cfg), tuple(mask.shape))
    for key, shape in {**expected, **buffers}.items():
        if key not in state:
            raise ValueError(f"not a CausalNet reference state dict: missing key {key!r}")
        if tuple(state[key].shape) != shape:
            raise ValueError(f"{key}: shape {list(state[key].shape)}, expected {list(shape)} "
                             f"(for (l1, l2, l3) = {cfg.depths}, width {cfg.dim})")
    for key in state:
        if key not in expected and key not in buffers:
            raise ValueError(f"not a CausalNet reference state dict of (l1, l2, l3) = {cfg.depths}: "
                             f"unexpected key {key!r}")
    pseudo = pseudo_attention(mask, cfg.gamma)
    for key in buffers:
        want, what = (mask, "sparse mask") if key.endswith("M_mask") else (pseudo, "pseudo-attention")
        if not torch.allclose(state[key].float(), want, atol=1e-6):
            raise ValueError(f"{key}: {state[key].tolist()} is not the {what} of SPEC §3 "
                             f"({want.tolist()} for gamma = {cfg.gamma:g})")


def from_reference_state_dict(state_dict: Mapping[str, Tensor]) -> CausalNet:
    """A :class:`CausalNet` computing what the reference model with these weights computes (eval mode).

    ``state_dict``: the authors' layout (``shared/reference/README.md``), optionally with the
    ``module.`` prefix of ``nn.DataParallel``. Raises ``ValueError`` naming the first key or shape
    that does not fit.
    """
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"not a state dict: a {type(state_dict).__name__}, expected a mapping of names to tensors")
    state = strip_data_parallel(state_dict)
    bad = next((k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)), None)
    if bad is not None:
        raise ValueError(f"not a state dict of tensors: entry {bad!r} holds a {type(state[bad]).__name__}")
    check_finite(state)
    cfg = infer_config(state)
    rules = reference_rules(cfg)
    model = build_on_meta(CausalNet.model_name, cfg)
    check_layout(state, cfg, rules, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    ours = {rule.target: rule.apply(state).to(torch.float32, copy=True).contiguous() for rule in rules}
    model.load_state_dict(ours, strict=True, assign=True)
    materialise_buffers(model)
    log.info("reference state dict: (l1, l2, l3) = %s, gamma %g, %d classes", cfg.depths, cfg.gamma, cfg.num_classes)
    return model.eval()


#: Parts of torch's text when ``weights_only=True`` refuses a file that advise loading it unsafely
#: (``weights_only=False``, allow-listing globals, "if you trust the source"): causalnet never repeats them.
_UNSAFE_ADVICE = re.compile(r"weights[ _`]*only[` ]*(=|set to|argument)|weights[ _]only load failed|can still be "
                            r"loaded|trust|safe_globals|two options|documentation of torch\.load|pytorch\.org",
                            re.IGNORECASE)
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_REFUSED = "it holds more than tensors, which causalnet refuses to load (unpickling can run code)"
_UNPICKLER = re.compile(r"WeightsUnpickler error:\s*(?P<reason>[^\n]*)")


def load_failure_reason(exc: BaseException) -> str:
    """The reason ``torch.load(..., weights_only=True)`` gave, in one line, without torch's advice to
    load the file unsafely (re-running with ``weights_only=False``, allow-listing globals).

    >>> load_failure_reason(RuntimeError("Weights only load failed. Re-running `torch.load` with `weights_only` "
    ...     "set to `False` will likely succeed. WeightsUnpickler error: Unsupported operand 149"))
    'it holds more than tensors, which causalnet refuses to load (unpickling can run code): Unsupported operand 149'
    """
    text = _ESCAPES.sub("", str(exc))
    unpickler = _UNPICKLER.search(text)
    if unpickler:  # torch's own reason, after its advice
        sentences = [s for s in re.split(r"(?<=\.)\s+", unpickler["reason"].strip()) if s]
        kept = [s for s in sentences if not _UNSAFE_ADVICE.search(s) and not s.startswith("Please use")]
        detail = " ".join(kept).rstrip(".")
        return _REFUSED + (f": {detail}" if detail else "")
    sentences = [s for line in text.splitlines() for s in re.split(r"(?<=\.)\s+", line.strip()) if s]
    kept = [s for s in sentences if not _UNSAFE_ADVICE.search(s)]
    if kept:
        return kept[0].rstrip(".")
    if sentences:  # everything torch said was advice
        return _REFUSED
    return type(exc).__name__


def load_reference(path: str | os.PathLike) -> CausalNet:
    """Load a reference ``.pth`` (``torch.load(..., weights_only=True)``: no code is unpickled) and convert it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: reference checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for foreign files
        reason = load_failure_reason(exc)
        raise ValueError(f"{path}: not a plain PyTorch state dict (torch.load with weights_only=True: {reason})"
                         ) from None
    try:
        return from_reference_state_dict(state)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None

