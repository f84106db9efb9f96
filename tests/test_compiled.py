"""``train.compile``: the members' training step through ``torch.compile``, and the fallback to eager.

Inductor's first compile of the compact model takes minutes, so these tests trace the same graphs with the
``aot_eager`` backend (dynamo + AOTAutograd, where a batched buffer used to break the trace) and check the
fallback by making compilation fail; ``benchmarks/fold_speed.py --set-current train.compile=true`` measures
the real thing (docs/speed.md).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from causalnet.models import CausalNet, CausalNetConfig
from causalnet.train import TrainConfig, compiled, loop


def _fit(compile_: bool, members: int = 2):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 4, 3, 28, 28)).astype(np.uint8)
    y = rng.integers(0, 3, 48)
    models = []
    for k in range(members):
        torch.manual_seed(10 + k)
        models.append(CausalNet(CausalNetConfig.preset("compact").with_overrides({"dim": 8, "cmplm": False})))
    cfg = TrainConfig.preset("compact").with_overrides({"epochs": 2, "batch_size": 16, "compile": compile_})
    sets = [np.arange(0, 32), np.arange(16, 48), np.arange(8, 40)][:members]
    evals = [np.arange(32, 48), np.arange(7), np.arange(40, 45)][:members]
    history = loop.fit(models, x, y, sets, cfg, seed=3, num_classes=3, eval_sets=evals)
    return history, [m.state_dict() for m in models]


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(compiled, "_CACHE", {})


def test_compiled_training_matches_eager_to_rounding(monkeypatch, fresh_cache, caplog):
    monkeypatch.setattr(compiled, "BACKEND", "aot_eager")
    calls = []
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(kw) or real(fn, **kw))
    eager, eager_weights = _fit(False)
    with caplog.at_level(logging.WARNING, logger="causalnet.train.compiled"):
        got, weights = _fit(True)
    assert len(calls) == 1 and calls[0]["backend"] == "aot_eager"
    assert not caplog.records  # the compiled step ran: no fallback to eager (which would match trivially)
    for a, b in zip(eager, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
    for wa, wb in zip(eager_weights, weights, strict=True):
        for name in wa:
            torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=1e-4)
    _fit(True)
    assert len(calls) == 1  # a second fit of the same architecture reuses the compiled step


def test_a_failing_compiler_falls_back_to_exactly_the_eager_run(monkeypatch, fresh_cache, caplog):
    def broken(fn, **kw):
        def call(*args, **kwargs):
            raise RuntimeError("no C++ compiler here")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    eager, eager_weights = _fit(False)
    with caplog.at_level(logging.WARNING, logger="causalnet.train.compiled"):
        got, weights = _fit(True)
    for a, b in zip(eager, got, strict=True):
        np.testing.assert_array_equal(a, b)  # the failed attempts changed nothing: bit for bit the eager run
    for wa, wb in zip(eager_weights, weights, strict=True):
        for name in wa:
            assert torch.equal(wa[name], wb[name])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "no C++ compiler here" in warnings[0] and "eagerly" in warnings[0]


def test_only_models_with_constant_buffers_compile(fresh_cache):
    assert compiled.compilable(CausalNet(CausalNetConfig.preset("compact")))
    with_statistics = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert not compiled.compilable(with_statistics)
    assert compiled.compiled_members(with_statistics, 2, {}, torch.device("cpu")) is None
    assert compiled.compiled_members(CausalNet(CausalNetConfig.preset("compact")), 1, {}, torch.device("cpu")) is None


def test_stored_configs_without_the_field_load_as_eager():
    cfg = TrainConfig.preset("compact")
    stored = {k: v for k, v in cfg.to_dict().items() if k != "compile"}
    assert TrainConfig.from_dict(stored).compile is False
    assert TrainConfig.preset("compact").with_overrides({"compile": "true"}).compile is True
