"""The authors' released checkpoints: layout, converter, golden logits, an independent implementation.

About tolerances (measured, docs/model.md "Golden check"): with the README's random weights the
reference function is extremely sensitive to float32 rounding: its nine CMPLM layers have no
LayerNorm before their MLPs, tokens grow to ~10^3 and the masked softmaxes saturate, so perturbing
the direction images by 1e-7 (relative) moves the logits by ~4e-3 (relative), and the reference
code's own operations run with 1 or 2 threads differ from each other by ~1e-3. No float32
implementation that is not bit-identical to the generator's kernels reaches the 1e-4 the issue asks
for. So the computation itself is checked in float64 (ours and the naive implementation agree to
~1e-11), and the float32 golden logits are matched within GOLDEN_TOL = 1e-2, which every plausible
misreading of the reference misses by far (the smallest measured: 6.7e-2, for a CAB score scale of
D^-1/2; the others 0.2-1.0).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import reference_naive as rn
from causalnet.models import CausalNet, CausalNetConfig, from_reference_state_dict, load_reference
from causalnet.models.reference import infer_config

GOLDEN_TOL = 1e-2  # float32 vs the golden logits: see the module docstring
EXACT_TOL = 1e-6  # float64, ours vs the naive implementation (measured ~1e-11)
SMALL = dict(dim=16, depths=(1, 1, 2), classes=3, hidden=32)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


@pytest.fixture(scope="module")
def reference_dir():
    if not rn.TSV.is_file() or not rn.GOLDEN.is_file():
        pytest.skip(f"shared reference files not found in {rn.REFERENCE_DIR} (needs ../shared beside the repo)")
    return rn.REFERENCE_DIR


@pytest.fixture(scope="module")
def golden_inputs(reference_dir, composite_root):
    from causalnet.data import load_composite

    golden = json.loads(rn.GOLDEN.read_text())
    clips = load_composite(composite_root)
    ids = [f"{s}_{c}" for s, c in zip(clips.subjects[:8], clips.clips[:8], strict=True)]
    assert ids == golden["clips"]  # the first 8 clips in CSV order
    return torch.from_numpy(clips.x[:8]), torch.tensor(golden["logits"])


@pytest.fixture(scope="module")
def golden_state(reference_dir):
    return rn.recipe_state_dict(2025, rn.read_tsv())


class AsDouble(Mapping):
    """A state dict whose tensors are read as float64 (converted on access: no second copy in memory)."""

    def __init__(self, state):
        self.state = state

    def __getitem__(self, key):
        return self.state[key].double()

    def __iter__(self):
        return iter(self.state)

    def __len__(self):
        return len(self.state)


def small_state(seed: int = 3, **kw) -> dict[str, torch.Tensor]:
    return rn.recipe_state_dict(seed, rn.reference_layout(**{**SMALL, **kw}))


# -- layout ------------------------------------------------------------------------------------------
def test_layout_of_the_naive_implementation_is_the_tsv(reference_dir):
    rows = rn.read_tsv()
    assert rows == rn.reference_layout()
    assert len(rows) == 514
    assert sum(torch.Size(s).numel() for _, s, kind in rows if kind == "parameter") == 276_590_089


def test_converted_paper_model_is_the_paper_preset_with_the_exact_parameter_count(reference_dir):
    state = {k: torch.empty(s, device="meta") for k, s, _ in rn.read_tsv()}
    m, p = rn.spec_mask_buffers(0.5)
    state.update({k: (m if k.endswith("M_mask") else p) for k in state if k.endswith(("M_mask", "P_matrix"))})
    assert infer_config(state) == CausalNetConfig.preset("paper")


# -- golden check ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def golden_model(golden_state):
    return from_reference_state_dict(golden_state)


def test_golden_logits(golden_model, golden_state, golden_inputs):
    """The converted paper model reproduces the golden logits (float32), and computes exactly what the
    naive implementation computes (float64)."""
    x, golden = golden_inputs
    assert golden_model.config == CausalNetConfig.preset("paper")
    with torch.inference_mode():
        logits = golden_model(x)
    assert rel_err(logits, golden) < GOLDEN_TOL
    try:
        with torch.inference_mode():
            ours64 = golden_model.double()(x.double())
    finally:
        golden_model.float()  # float32 -> float64 -> float32 gives the same weights back
    assert rel_err(ours64, rn.reference_logits(AsDouble(golden_state), x.double())) < EXACT_TOL


def test_naive_implementation_matches_the_golden_logits(golden_state, golden_inputs):
    x, golden = golden_inputs
    assert rel_err(rn.reference_logits(golden_state, x), golden) < GOLDEN_TOL


def test_golden_check_rejects_a_misread_reference(golden_model, golden_inputs):
    """The tolerance discriminates: the old paper preset's CMPLM order misses the golden logits by far."""
    x, golden = golden_inputs
    try:
        for layer in golden_model.cmplm.layers:
            layer.attention_first = False
        with torch.inference_mode():
            assert rel_err(golden_model(x), golden) > 10 * GOLDEN_TOL
    finally:
        for layer in golden_model.cmplm.layers:
            layer.attention_first = True


@pytest.mark.slow
def test_another_seed_matches_the_naive_implementation_on_a_quarter_of_the_composite(reference_dir, composite_root):
    """Seed 7, every fourth of the 442 clips (all three source datasets; the whole set took a minute of the
    suite's time), float64 (see the module docstring for why not float32). The two implementations run side by
    side, one torch thread each (independent work for the two cores; ~25 % less wall time, ~0.6 GB more memory)."""
    from causalnet.data import load_composite

    x = torch.from_numpy(load_composite(composite_root).x[::4]).double()
    state = rn.recipe_state_dict(7, rn.read_tsv())

    def converted() -> torch.Tensor:
        model = from_reference_state_dict(state).double()
        with torch.inference_mode():
            return torch.cat([model(x[i: i + 64]) for i in range(0, len(x), 64)])

    def naive() -> torch.Tensor:
        return torch.cat([rn.reference_logits(AsDouble(state), x[i: i + 64]) for i in range(0, len(x), 64)])

    with ThreadPoolExecutor(2) as pool:
        ours_job, naive_job = pool.submit(converted), pool.submit(naive)
        ours, naive = ours_job.result(), naive_job.result()
    assert ours.shape == (111, 3)
    assert rel_err(ours, naive) < EXACT_TOL


# -- converter ---------------------------------------------------------------------------------------
def test_small_reference_state_dict_converts_and_matches_the_naive_implementation():
    state = small_state()
    model = from_reference_state_dict(state)
    cfg = model.config
    assert (cfg.dim, cfg.depths, cfg.head_hidden, cfg.num_classes, cfg.gamma) == (16, (1, 1, 2), 32, 3, 0.5)
    x = torch.rand(5, 4, 3, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 255
    with torch.inference_mode():
        ours = model.double()(x)
    assert rel_err(ours, rn.reference_logits(AsDouble(state), x)) < EXACT_TOL
    state["mlp_head.1.bias"] += 1.0  # the model owns its weights: no aliasing with the state dict
    with torch.inference_mode():
        assert torch.equal(model(x), ours)


def test_gamma_and_sizes_are_read_from_the_state_dict():
    state = small_state(dim=8, depths=(2, 1, 1), classes=5, hidden=16)
    m, p = rn.spec_mask_buffers(0.3)
    state.update({k: (m if k.endswith("M_mask") else p).clone() for k in state if k.endswith(("M_mask", "P_matrix"))})
    cfg = from_reference_state_dict(state).config
    assert (cfg.dim, cfg.depths, cfg.num_classes, cfg.head_hidden) == (8, (2, 1, 1), 5, 16)
    assert cfg.gamma == pytest.approx(0.3)


def test_data_parallel_prefix_is_accepted():
    state = small_state()
    plain = from_reference_state_dict(state)
    wrapped = from_reference_state_dict({f"module.{k}": v for k, v in state.items()})
    x = torch.rand(2, 4, 3, 28, 28) * 255
    with torch.inference_mode():
        assert torch.equal(plain(x), wrapped(x))


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("CrossAttention.layers.0.1.to_kv.bias"), "missing key 'CrossAttention.layers.0.1.to_kv.bias'"),
    (lambda s: s.update({"cab.layers.0.1.to_q.weight": torch.zeros(16, 15)}),
     r"cab.layers.0.1.to_q.weight: shape \[16, 15\], expected \[16, 16\]"),
    (lambda s: s.update({"extra.weight": torch.zeros(1)}), "unexpected key 'extra.weight'"),
    (lambda s: s.update({"cab.layers.0.1.M_mask": torch.ones(4, 4)}), "M_mask.*is not the sparse mask"),
    (lambda s: s.update({"CrossAttention.layers.1.1.P_matrix": torch.zeros(4, 4)}),
     "P_matrix.*is not the pseudo-attention"),
    (lambda s: s.pop("to_patch_embedding.1.weight"), "missing key 'to_patch_embedding.1.weight'"),
    (lambda s: s.update({"layers.0.0.pos_emb": [1.0]}), "entry 'layers.0.0.pos_emb' holds a list"),
])
def test_converter_names_the_first_key_that_does_not_fit(change, message):
    state = small_state()
    change(state)
    with pytest.raises(ValueError, match=message):
        from_reference_state_dict(state)


def test_a_state_dict_of_our_own_model_is_not_a_reference_one():
    ours = CausalNet(CausalNetConfig.preset("compact")).state_dict()
    with pytest.raises(ValueError, match="missing key 'to_patch_embedding.1.weight'"):
        from_reference_state_dict(ours)
    with pytest.raises(ValueError, match="not a state dict"):
        from_reference_state_dict([1, 2])


class NotATensor:
    """A pickled object that ``weights_only=True`` refuses to rebuild."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_pth_files_load_only_as_plain_state_dicts(tmp_path, capsys):
    good = tmp_path / "sub01.pth"
    torch.save(small_state(), good)
    assert isinstance(load_reference(good), CausalNet)
    evil = tmp_path / "evil.pth"
    torch.save({"x": NotATensor()}, evil)
    with pytest.raises(ValueError, match=r"evil.pth: not a plain PyTorch state dict \(torch.load with weights_only"):
        load_reference(evil)
    assert "this must never run" not in capsys.readouterr().out
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pth: not a plain PyTorch state dict"):
        load_reference(junk)
    bad = tmp_path / "bad.pth"
    state = small_state()
    del state["mlp_head.0.bias"]
    torch.save(state, bad)
    with pytest.raises(ValueError, match="bad.pth: not a CausalNet reference state dict: missing key 'mlp_head.0.bia"):
        load_reference(bad)
    with pytest.raises(FileNotFoundError, match="none.pth"):
        load_reference(tmp_path / "none.pth")
