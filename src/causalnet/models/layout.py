"""How a model's inputs are laid out for training: prepared once per fold, shifted per batch.

The training loop (:func:`causalnet.train.loop.fit`) keeps a fold's whole input table on the device and, every
step, gathers a batch of rows and translates each sample by a random integer offset (edge pixels repeated).
A model that starts with a fixed, pixel-wise rearrangement of its input can do that work once per fold instead
of once per step: it defines ``input_layout() -> layout`` and accepts ``forward(x, prepared=True)``.

- :class:`ImageLayout` (every model): the table is the raw images ``[N, ..., H, W]``; a shift moves pixels.
- :class:`PatchLayout` (CausalNet): the table is the model's normalised, patchified input
  ``[N, T, h, w, p*p*C]`` (``x * scale + shift`` on every pixel, then non-overlapping ``p x p`` patches,
  channel-last), and a shift is one gather through a precomputed index per offset. Each value is the same
  float the model would have computed from the shifted raw image, so training is bit-for-bit what it is with
  images; the per-step input work falls from five passes over the batch (pad, shift, normalise twice,
  patchify) to one.

A layout's ``shift(x, offsets, max_shift)`` takes the batch ``[B, ...]`` and per-sample offsets
``[B, 2]`` (row, column; each in ``[0, 2 * max_shift]``, ``max_shift`` meaning no move): sample ``b``'s pixel
``(y, x)`` becomes the input's pixel ``(clamp(y + dy - max_shift), clamp(x + dx - max_shift))``.

>>> import torch
>>> image = torch.arange(16.0).reshape(1, 1, 4, 4)
>>> ImageLayout().shift(image, torch.tensor([[2, 1]]), 1)[0, 0]  # down one row: the image moves up
tensor([[ 4.,  5.,  6.,  7.],
        [ 8.,  9., 10., 11.],
        [12., 13., 14., 15.],
        [12., 13., 14., 15.]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

__all__ = ["ImageLayout", "InputLayout", "PatchLayout", "input_layout", "patchify"]

#: rows prepared at once (bounds the extra memory of :meth:`PatchLayout.prepare` to this many rows)
PREPARE_CHUNK = 1024


class InputLayout(Protocol):
    """What :func:`causalnet.train.loop.fit` needs of a layout (see the module docstring)."""

    #: keyword arguments of the model's forward for inputs in this layout
    call_kwargs: dict

    def prepare(self, x: Tensor) -> Tensor: ...

    def shift(self, x: Tensor, offsets: Tensor, max_shift: int) -> Tensor: ...


class ImageLayout:
    """Raw images ``[B, ..., H, W]``: nothing prepared; :meth:`shift` translates each sample's images."""

    call_kwargs: dict = {}

    def prepare(self, x: Tensor) -> Tensor:
        return x

    def shift(self, x: Tensor, offsets: Tensor, max_shift: int) -> Tensor:
        """Translate each sample by its ``offsets`` row (the same offset for all images of a sample)."""
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        lead = x.shape[1:-2]
        flat = x.reshape(b, -1, h, w)
        padded = F.pad(flat, (max_shift,) * 4, mode="replicate")
        out = torch.empty_like(flat)
        for dy, dx in torch.unique(offsets, dim=0).tolist():
            sel = ((offsets[:, 0] == dy) & (offsets[:, 1] == dx)).to(x.device)
            out[sel] = padded[sel, :, dy: dy + h, dx: dx + w]
        return out.reshape(b, *lead, h, w)


def patchify(x: Tensor, patch: int) -> Tensor:
    """Images ``[..., C, S, S]`` -> non-overlapping patches ``[..., S/p, S/p, p*p*C]`` (pixel-major, channel last:
    the order of the encoders' patch embedding)."""
    return rearrange(x, "... c (h p1) (w p2) -> ... h w (p1 p2 c)", p1=patch, p2=patch)


class PatchLayout:
    """Normalised patches ``[N, T, h, w, p*p*C]`` of ``T`` images ``C x S x S`` (see the module docstring).

    Args:
        prepare_input: the model's raw-images -> prepared-input function (normalise, then :func:`patchify`).
        channels, size, patch: the images' geometry.
    """

    call_kwargs: dict = {"prepared": True}

    def __init__(self, prepare_input: Callable[[Tensor], Tensor], channels: int, size: int, patch: int) -> None:
        if size % patch:
            raise ValueError(f"image size {size} is not a multiple of the patch size {patch}")
        self.prepare_input, self.channels, self.size, self.patch = prepare_input, channels, size, patch
        self._index: dict[tuple[int, str], Tensor] = {}

    @torch.no_grad()
    def prepare(self, x: Tensor) -> Tensor:
        """The whole table prepared in chunks of :data:`PREPARE_CHUNK` rows (float32, on ``x``'s device; the
        extra memory is one chunk)."""
        out = None
        for i in range(0, len(x), PREPARE_CHUNK):
            part = self.prepare_input(x[i: i + PREPARE_CHUNK].float())
            if out is None:
                out = part.new_empty((len(x), *part.shape[1:]))
            out[i: i + len(part)] = part
        return out if out is not None else self.prepare_input(x.float())

    def shift_index(self, max_shift: int, device: torch.device) -> Tensor:
        """``[(2s+1)**2, h*w*p*p*C]``: for offset ``dy * (2s+1) + dx``, where each prepared value comes from."""
        key = (max_shift, str(device))
        if key not in self._index:
            c, s, p = self.channels, self.size, self.patch
            source = patchify(torch.arange(c * s * s).reshape(c, s, s), p).reshape(-1)  # patch slot -> pixel id
            position = torch.empty_like(source)
            position[source] = torch.arange(source.numel())  # pixel id -> patch slot
            pixels = torch.arange(c * s * s).reshape(c, s, s)
            side = torch.arange(s)
            rows = []
            for dy in range(2 * max_shift + 1):
                for dx in range(2 * max_shift + 1):
                    ys = (side + dy - max_shift).clamp(0, s - 1)
                    xs = (side + dx - max_shift).clamp(0, s - 1)
                    moved = pixels[:, ys][:, :, xs]  # [C, S, S]: the source pixel of every shifted pixel
                    rows.append(position[patchify(moved, p).reshape(-1)])
            self._index[key] = torch.stack(rows).to(device)
        return self._index[key]

    def shift(self, x: Tensor, offsets: Tensor, max_shift: int) -> Tensor:
        """Translate each sample ``[B, T, h, w, P]`` by its offset: one gather through :meth:`shift_index`."""
        index = self.shift_index(max_shift, x.device)
        which = (offsets[:, 0] * (2 * max_shift + 1) + offsets[:, 1]).to(x.device)
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        return torch.gather(flat, 2, index[which][:, None, :].expand_as(flat)).reshape(x.shape)


def input_layout(model: nn.Module) -> InputLayout:
    """``model.input_layout()`` when the model defines it, else :class:`ImageLayout`."""
    hook = getattr(model, "input_layout", None)
    return hook() if callable(hook) else ImageLayout()
