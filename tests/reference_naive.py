"""A deliberately naive, functional second implementation of the reference CausalNet (test helper).

Written from ``shared/reference/README.md`` and SPEC §2-§3 only, sharing no code with ``src/``: it
reads the reference state-dict keys directly and uses plain torch ops (full attention everywhere, no
shortcuts, loops instead of batching). It exists to check the converter + ``CausalNet`` independently.

Also here: the reference key layout for any size (checked against the TSV) and the README's recipe of
random weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
TSV = REFERENCE_DIR / "causalnet_reference_state_dict.tsv"
GOLDEN = REFERENCE_DIR / "golden_logits_seed2025.json"
EPS = 1e-5


# -- layout and recipe -------------------------------------------------------------------------------
def read_tsv(path: Path = TSV) -> list[tuple[str, tuple[int, ...], str]]:
    """(key, shape, kind) of every TSV row, in its order."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or line.startswith("key\t") or not line.strip():
            continue
        key, shape, kind = line.split("\t")
        rows.append((key, tuple(int(s) for s in shape.split("x")), kind))
    return rows


def reference_layout(dim=256, depths=(3, 3, 9), classes=3, hidden=2048, patch=7, heads=3, mlp=4, cmplm=None):
    """The reference state-dict layout (key, shape, kind) of a configuration, in the reference's order."""
    rows = []

    def add(key, *shape, kind="parameter"):
        rows.append((key, tuple(shape), kind))

    for embed in ("to_patch_embedding", "to_patch_embedding1"):
        add(f"{embed}.1.weight", dim, patch * patch * 3, 1, 1)
        add(f"{embed}.1.bias", dim)
    for layers in ("layers", "layers1"):
        for level, depth in enumerate(depths):
            width, h = dim * 2**level, heads * 2**level
            inner = (width // h) * h
            add(f"{layers}.{level}.0.pos_emb", 1)
            for b in range(depth):
                p = f"{layers}.{level}.0.layers.{b}"
                add(f"{p}.0.norm.g", 1, width, 1, 1)
                add(f"{p}.0.norm.b", 1, width, 1, 1)
                add(f"{p}.0.fn.to_qkv.weight", 3 * inner, width, 1, 1)
                add(f"{p}.0.fn.to_out.0.weight", width, inner, 1, 1)
                add(f"{p}.0.fn.to_out.0.bias", width)
                add(f"{p}.1.norm.g", 1, width, 1, 1)
                add(f"{p}.1.norm.b", 1, width, 1, 1)
                add(f"{p}.1.fn.net.0.weight", mlp * width, width, 1, 1)
                add(f"{p}.1.fn.net.0.bias", mlp * width)
                add(f"{p}.1.fn.net.3.weight", width, mlp * width, 1, 1)
                add(f"{p}.1.fn.net.3.bias", width)
            if level < len(depths) - 1:
                add(f"{layers}.{level}.1.0.weight", 2 * width, width, 3, 3)
                add(f"{layers}.{level}.1.0.bias", 2 * width)
                add(f"{layers}.{level}.1.1.g", 1, 2 * width, 1, 1)
                add(f"{layers}.{level}.1.1.b", 1, 2 * width, 1, 1)
    d = dim * 2 ** (len(depths) - 1) // 4  # the final feature read as D x 2 x 2

    def linear(key, n_out, n_in):
        add(f"{key}.weight", n_out, n_in)
        add(f"{key}.bias", n_out)

    for k in range(depths[-1] if cmplm is None else cmplm):
        p = f"CrossAttention.layers.{k}"
        add(f"{p}.0.weight", d)
        add(f"{p}.0.bias", d)
        add(f"{p}.1.M_mask", 4, 4, kind="buffer")
        add(f"{p}.1.P_matrix", 4, 4, kind="buffer")
        linear(f"{p}.1.to_q", d, d)
        linear(f"{p}.1.to_kv", 2 * d, d)
        linear(f"{p}.1.to_out.0", d, d)
        linear(f"{p}.2.0", mlp * d, d)
        linear(f"{p}.2.3", d, mlp * d)
    p = "cab.layers.0"
    add(f"{p}.0.weight", d)
    add(f"{p}.0.bias", d)
    add(f"{p}.1.M_mask", 4, 4, kind="buffer")
    add(f"{p}.1.P_matrix", 4, 4, kind="buffer")
    for pre in ("", "temp_"):
        linear(f"{p}.1.{pre}to_q", d, d)
        linear(f"{p}.1.{pre}to_kv", 2 * d, d)
        linear(f"{p}.1.{pre}to_out.0", d, d)
    linear(f"{p}.2.0", mlp * d, d)
    linear(f"{p}.2.3", d, mlp * d)
    for name in ("to_q", "to_k", "to_v", "to_out.0"):
        linear(f"{p}.3.{name}", d, d)
    linear("mlp_head.0", hidden, 12 * d)
    linear("mlp_head.1", classes, hidden)
    return rows


def spec_mask_buffers(gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """M and P of SPEC §3 on the 2x2 grid: M = [dist² <= 1]; P = -gamma * j (1-based key column) where M = 0."""
    cells = [(0, 0), (0, 1), (1, 0), (1, 1)]
    m = torch.zeros(4, 4)
    p = torch.zeros(4, 4)
    for i, (yi, xi) in enumerate(cells):
        for j, (yj, xj) in enumerate(cells):
            if (yi - yj) ** 2 + (xi - xj) ** 2 <= 1:
                m[i, j] = 1.0
            else:
                p[i, j] = -gamma * (j + 1)
    return m, p


def recipe_state_dict(seed: int, layout, gamma: float = 0.5) -> dict[str, torch.Tensor]:
    """The README's recipe: weights drawn in layout order from one generator; buffers as SPEC §3 defines."""
    g = torch.Generator().manual_seed(seed)
    m, p = spec_mask_buffers(gamma)
    state = {}
    for key, shape, kind in layout:
        if kind == "buffer":
            state[key] = (m if key.endswith("M_mask") else p).clone()
            continue
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if key.endswith(".g") or (len(shape) == 1 and key.endswith(".weight")):
            state[key] = 1 + 0.1 * z
        elif key.endswith(".b") or key.endswith(".bias") or key.endswith("pos_emb"):
            state[key] = 0.1 * z
        else:
            state[key] = z / math.sqrt(math.prod(shape[1:]))
    return state


# -- the reference function, naively -----------------------------------------------------------------
def _channel_norm(x, g, b):
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * g + b


def _token_norm(x, w, b):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * w + b


def _conv1x1(x, w, b=None):
    """A 1x1 convolution [N, I, H, W] -> [N, O, H, W] as a per-pixel matrix product."""
    out = torch.einsum("oi,nihw->nohw", w[:, :, 0, 0], x)
    return out if b is None else out + b[None, :, None, None]


def _block_attention(sd, p, x, heads):
    """Multi-head self-attention among the tokens of each block x [M, C, h, w] (all of them, no shortcut)."""
    m, c, h, w = x.shape
    q, k, v = _conv1x1(x, sd[f"{p}.to_qkv.weight"]).chunk(3, dim=1)
    inner = q.shape[1]
    dh = inner // heads
    out = torch.zeros(m, inner, h * w, dtype=x.dtype)
    for head in range(heads):
        sl = slice(head * dh, (head + 1) * dh)
        qh, kh, vh = (t[:, sl].reshape(m, dh, h * w) for t in (q, k, v))
        scores = torch.einsum("mdi,mdj->mij", qh, kh) * dh**-0.5
        out[:, sl] = torch.einsum("mij,mdj->mdi", scores.softmax(dim=-1), vh)
    return _conv1x1(out.reshape(m, inner, h, w), sd[f"{p}.to_out.0.weight"], sd[f"{p}.to_out.0.bias"])


def _encoder(sd, embed, layers, img):
    """The HTNet/NesT encoder: images [N, 3, 28, 28] -> tokens [N, 4, D]."""
    n, patch = img.shape[0], math.isqrt(sd[f"{embed}.1.weight"].shape[1] // 3)
    grid = img.shape[-1] // patch
    # patch flattened in the order (row in patch, column in patch, channel)
    patches = img.reshape(n, 3, grid, patch, grid, patch).permute(0, 3, 5, 1, 2, 4)
    x = _conv1x1(patches.reshape(n, patch * patch * 3, grid, grid), sd[f"{embed}.1.weight"], sd[f"{embed}.1.bias"])
    levels = sum(1 for k in sd if k.startswith(f"{layers}.") and k.endswith(".0.pos_emb"))
    for level in range(levels):
        blocks = 2 ** (levels - 1 - level)
        c, side = x.shape[1], x.shape[2] // blocks
        # split into blocks x blocks local blocks
        xb = x.reshape(n, c, blocks, side, blocks, side).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, side, side)
        pos = sd[f"{layers}.{level}.0.pos_emb"][: side * side].reshape(1, 1, side, side)
        xb = xb + pos
        b = 0
        while f"{layers}.{level}.0.layers.{b}.0.norm.g" in sd:
            p = f"{layers}.{level}.0.layers.{b}"
            xb = xb + _block_attention(sd, f"{p}.0.fn", _channel_norm(xb, sd[f"{p}.0.norm.g"], sd[f"{p}.0.norm.b"]),
                                       heads=3 * 2**level)
            hdn = _channel_norm(xb, sd[f"{p}.1.norm.g"], sd[f"{p}.1.norm.b"])
            hdn = F.gelu(_conv1x1(hdn, sd[f"{p}.1.fn.net.0.weight"], sd[f"{p}.1.fn.net.0.bias"]))
            xb = xb + _conv1x1(hdn, sd[f"{p}.1.fn.net.3.weight"], sd[f"{p}.1.fn.net.3.bias"])
            b += 1
        x = xb.reshape(n, blocks, blocks, c, side, side).permute(0, 3, 1, 4, 2, 5).reshape(n, c, blocks * side, -1)
        if level < levels - 1:
            a = f"{layers}.{level}.1"
            x = F.conv2d(x, sd[f"{a}.0.weight"], sd[f"{a}.0.bias"], padding=1)
            x = _channel_norm(x, sd[f"{a}.1.g"], sd[f"{a}.1.b"])
            x = F.max_pool2d(x, 3, stride=2, padding=1)
    d = x.numel() // n // 4
    return x.reshape(n, d, 4).transpose(1, 2)  # 1024x1x1 read as D x 2 x 2 -> 4 tokens of width D


def _lin(sd, p, x):
    return x @ sd[f"{p}.weight"].T + sd[f"{p}.bias"]


def _heads_attention(q, k, v, heads, scale, mask=None, pseudo=None):
    """q [B, nq, D], k/v [B, nk, D]: per head, softmax(scores ⊙ M + P) ⊙ M (plain softmax without M)."""
    b, nq, d = q.shape
    dh = d // heads
    out = torch.zeros(b, nq, d, dtype=q.dtype)
    for h in range(heads):
        sl = slice(h * dh, (h + 1) * dh)
        scores = q[..., sl] @ k[..., sl].transpose(1, 2) * scale
        if mask is None:
            weights = scores.softmax(dim=-1)
        else:
            weights = (scores * mask + pseudo).softmax(dim=-1) * mask
        out[..., sl] = weights @ v[..., sl]
    return out


def _mlp(sd, p, x):
    return _lin(sd, f"{p}.3", F.gelu(_lin(sd, f"{p}.0", x)))


def _cmplm(sd, x1, x2, heads=8):
    k = 0
    while f"CrossAttention.layers.{k}.0.weight" in sd:
        p = f"CrossAttention.layers.{k}"
        m, pm = sd[f"{p}.1.M_mask"], sd[f"{p}.1.P_matrix"]
        d = x1.shape[-1]

        def cross(q_in, kv_in, p=p, m=m, pm=pm, d=d):
            key, value = _lin(sd, f"{p}.1.to_kv", kv_in).chunk(2, dim=-1)
            out = _heads_attention(_lin(sd, f"{p}.1.to_q", q_in), key, value, heads, d**-0.5, m, pm)
            return _lin(sd, f"{p}.1.to_out.0", out)

        a1 = _token_norm(x1, sd[f"{p}.0.weight"], sd[f"{p}.0.bias"])
        a2 = _token_norm(x2, sd[f"{p}.0.weight"], sd[f"{p}.0.bias"])
        x1 = x1 + cross(a1, x2)
        x2 = x2 + cross(a2, x1)
        x1 = x1 + _mlp(sd, f"{p}.2", x1)
        x2 = x2 + _mlp(sd, f"{p}.2", x2)
        k += 1
    return x1, x2


def _cab(sd, t1, t2, heads=8):
    p = "cab.layers.0"
    d = t1.shape[-1]
    scale = (d / heads) ** -0.5
    m, pm = sd[f"{p}.1.M_mask"], sd[f"{p}.1.P_matrix"]

    def spatial(x):
        key, value = _lin(sd, f"{p}.1.to_kv", x).chunk(2, dim=-1)
        return _lin(sd, f"{p}.1.to_out.0", _heads_attention(_lin(sd, f"{p}.1.to_q", x), key, value, heads, scale,
                                                            m, pm))

    def temporal(s2, s1):
        out = torch.zeros_like(s2)
        for pos in range(s2.shape[1]):  # the query at s2[pos] over the keys/values at s1[pos], s2[pos]
            q = _lin(sd, f"{p}.1.temp_to_q", s2[:, pos: pos + 1])
            kv = _lin(sd, f"{p}.1.temp_to_kv", torch.stack([s1[:, pos], s2[:, pos]], dim=1))
            key, value = kv.chunk(2, dim=-1)
            out[:, pos: pos + 1] = _heads_attention(q, key, value, heads, scale)
        return _lin(sd, f"{p}.1.temp_to_out.0", out)

    n1 = _token_norm(t1, sd[f"{p}.0.weight"], sd[f"{p}.0.bias"])
    n2 = _token_norm(t2, sd[f"{p}.0.weight"], sd[f"{p}.0.bias"])
    s1 = n1 + spatial(n1)
    s2 = n2 + spatial(n2)
    s2 = s2 + temporal(s2, s1)
    return s1 + _mlp(sd, f"{p}.2", s1), s2 + _mlp(sd, f"{p}.2", s2)


def _crm(sd, y_for, y_back, heads=8):
    p = "cab.layers.0.3"
    d = y_for.shape[-1]
    both = y_for + y_back
    out = _heads_attention(_lin(sd, f"{p}.to_q", y_for), _lin(sd, f"{p}.to_k", y_back), _lin(sd, f"{p}.to_v", both),
                           heads, (d / heads) ** -0.5)
    return _lin(sd, f"{p}.to_out.0", out + both)


@torch.no_grad()
def reference_logits(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits [B, classes] of the reference model with state dict ``sd`` on mosaics ``x [B, 4, 3, 28, 28]`` (0-255)."""
    m1 = _encoder(sd, "to_patch_embedding", "layers", x[:, 0])
    m2 = _encoder(sd, "to_patch_embedding", "layers", x[:, 1])
    d1 = _encoder(sd, "to_patch_embedding1", "layers1", x[:, 2])
    d2 = _encoder(sd, "to_patch_embedding1", "layers1", x[:, 3])
    p1, p2 = _cmplm(sd, d1, d2)
    m1, m2 = m1 + p1, m2 + p2
    y1_for, y2_for = _cab(sd, m1, m2)
    y1_back, y2_back = _cab(sd, m2, m1)
    y_long = _crm(sd, y2_for, y2_back)
    feats = torch.cat([y_long, y1_for, y1_back], dim=1).flatten(1)  # token-major: token * D + channel
    return _lin(sd, "mlp_head.1", _lin(sd, "mlp_head.0", feats))
