"""The command line follows one grammar (issue 37): ``python -m causalnet`` and ``--version``; one ``--set``
syntax; ``--num-subjects`` for counts; defaults in every ``--help``; sub-commands in workflow order; a warning
printed once; progress bars only on a terminal, counting whole folds; ``py.typed``; reruns from config.json."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import causalnet
from causalnet.cli import ORDER, build_parser, main
from causalnet.commands.options import show_progress
from causalnet.engine import FoldKey
from causalnet.engine.result import FoldOutcome
from causalnet.engine.runner import FoldProgress
from causalnet.provenance import git_commit, provenance
from conftest import write_fake_composite

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--workers", "1", "--device", "cpu", "--epochs", "1", "--set", "model.dim=8", "model.head_hidden=16"]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


# ------------------------------------------------------------------------------ python -m, --version

def test_python_m_causalnet_prints_the_version():
    out = subprocess.run([sys.executable, "-m", "causalnet", "--version"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"causalnet {causalnet.__version__}"


def test_version_and_help_in_process(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and causalnet.__version__ in capsys.readouterr().out
    assert main([]) == 2  # no command: the help, exit 2
    assert "workflow:" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- one --set

def test_every_set_option_takes_several_values_and_repeats():
    with_set = {name: p for name, p in _subcommands().items() if "--set" in p._option_string_actions}
    assert {"train", "preprocess", "robustness", "sweep", "demo", "synth", "analyze", "spot-eval"} <= set(with_set)
    for name, p in with_set.items():
        action = p._option_string_actions["--set"]
        assert isinstance(action, argparse._ExtendAction) and action.nargs == "+", name


def test_train_set_both_forms_add_up():
    parse = build_parser().parse_args
    one = parse(["train", "--data", "d", "--set", "model.gamma=0.3", "train.lr=1e-4", "--set", "train.epochs=3"])
    assert one.overrides == ["model.gamma=0.3", "train.lr=1e-4", "train.epochs=3"]
    assert parse(["train", "--data", "d"]).overrides == []
    with pytest.raises(SystemExit):  # --set needs a value
        parse(["train", "--data", "d", "--set"])


def test_synth_and_demo_set_both_forms(tmp_path):
    from causalnet.commands.demo import _configs
    from causalnet.commands.synth import synth_config

    args = build_parser().parse_args(["synth", "--out", str(tmp_path / "s"), "--set", "noise_sigma=2",
                                      "blink_prob=0", "--set", "flicker=0"])
    cfg = synth_config(args)
    assert (cfg.noise_sigma, cfg.blink_prob, cfg.flicker) == (2.0, 0.0, 0.0)
    args = build_parser().parse_args(["demo", "--out", str(tmp_path / "demo"), "--device", "cpu", "--set",
                                      "train.members=3", "train.lr=0.002", "--set", "model.dim=8"])
    _synth, experiment = _configs(args)
    assert (experiment.train.members, experiment.train.lr, experiment.model.dim) == (3, 0.002, 8)


# ----------------------------------------------------------------------------- --num-subjects

def test_num_subjects_counts_and_the_old_spelling_warns_once(tmp_path, capsys):
    from causalnet.commands.demo import _configs
    from causalnet.commands.synth import synth_config

    parse = build_parser().parse_args
    assert synth_config(parse(["synth", "--out", "o", "--num-subjects", "3"])).n_subjects == 3
    assert capsys.readouterr().err == ""
    assert synth_config(parse(["synth", "--out", "o", "--subjects", "4"])).n_subjects == 4
    err = capsys.readouterr().err
    assert err.count("deprecated") == 1 and "--num-subjects" in err
    with pytest.raises(ValueError, match="disagree"):
        synth_config(parse(["synth", "--out", "o", "--subjects", "4", "--num-subjects", "3"]))
    synth, _exp = _configs(parse(["demo", "--out", str(tmp_path / "d"), "--device", "cpu", "--num-subjects", "5"]))
    assert synth.n_subjects == 5
    out = tmp_path / "bench"
    assert main(["synth", "--preset", "tiny", "--subjects", "2", "--clips-per-subject", "1", "--no-progress",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2 clips of 2 subjects" in captured.out
    assert (captured.out + captured.err).count("is deprecated") == 1


def test_docs_use_num_subjects_for_counts():
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in texts:
        for line in path.read_text(encoding="utf-8").splitlines():
            if ("causalnet synth" in line or "causalnet demo" in line) and "--subjects" in line:
                pytest.fail(f"{path.name}: {line.strip()}")


# ------------------------------------------------------------------------------------------ --help

def test_every_help_states_its_defaults_and_no_doubled_percent():
    for name, p in _subcommands().items():
        text = p.format_help()
        assert "%%" not in text, name
        formatter = p._get_formatter()
        for action in p._actions:
            default = action.default
            if (not action.option_strings or action.nargs == 0 or action.help == argparse.SUPPRESS
                    or default is None or default is False or default == [] or default == ""):
                continue
            assert "default" in formatter._expand_help(action), (name, action.option_strings)


def test_known_defaults_are_shown():
    subs = _subcommands()
    assert "(default: 1" in subs["train"].format_help().replace("\n", " ")  # --runs
    robustness = " ".join(subs["robustness"].format_help().split())
    assert "(default: 0)" in robustness and "(default: compact)" in robustness
    assert "95% confidence" in " ".join(subs["compare"].format_help().split())
    synth = " ".join(subs["synth"].format_help().split())
    for option in ("--num-subjects N number of subjects (default", "--seed S random seed (default",
                   "--size PX frame side in pixels (default"):
        assert option in synth, option


def test_subcommands_are_listed_in_workflow_order(capsys):
    subs = _subcommands()
    assert set(subs) <= set(ORDER), f"place {set(subs) - set(ORDER)} in causalnet.cli.WORKFLOW"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    listed = [line.split()[0] for line in text.split("positional arguments:")[1].split("options:")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == [name for name in ORDER if name in subs]
    assert "workflow:" in text and "  try it without data:  demo, synth" in text
    assert subs["models"].description and "registered model" in subs["models"].description


# --------------------------------------------------------------------------------------- progress

class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_on_a_terminal(monkeypatch):
    args = argparse.Namespace(no_progress=False)
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    assert show_progress(args) is False
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert show_progress(args) is True
    assert show_progress(argparse.Namespace(no_progress=True)) is False


def test_fold_progress_counts_whole_folds(monkeypatch):
    stream = _Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    bar = FoldProgress(3, "LOSO", enabled=True)
    bar.bar.fp = stream  # tqdm wraps the stream it was given; write to ours
    key = FoldKey("", 0, "s1")
    bar.expect(key, 2)
    bar.epoch(key, 0)
    bar.done(FoldOutcome(key=key, result=None))  # type: ignore[arg-type]
    bar.bar.refresh()
    bar.close()
    text = stream.getvalue()
    assert "1/3 folds" in text and ".5/3" not in text and "1.0/3" not in text, text


# ----------------------------------------------------------------- a train run: note once, no bars

@pytest.fixture
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 3-subject run (the compact preset adapted to few subjects: a warning) trained without
    --no-progress, with its captured output."""
    base = tmp_path_factory.mktemp("grammar")
    data = write_fake_composite(base / "data", {"p0": "own", "p1": "own", "p2": "own"}, clips_per_subject=3)
    return data, base


def test_train_warns_once_and_draws_no_bar_off_a_terminal(tiny_run, capsys, caplog):
    data, base = tiny_run
    assert main(["train", "--data", str(data), "--out", str(base / "a"), *TINY]) == 0
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert everything.count("training subjects per fold") == 1, everything
    assert "\r" not in captured.err  # stderr is not a terminal: no progress bar

    # config.json records where the run came from ...
    record = json.loads((base / "a" / "config.json").read_text())
    prov = record["provenance"]
    assert prov["command"][:2] == ["causalnet", "train"] and "--epochs" in prov["command"]
    assert prov["causalnet_version"] == causalnet.__version__
    if shutil.which("git") and git_commit():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert prov["commit"] == head.stdout.strip()

    # ... and reruns: the same predictions in a new folder
    assert main(["train", "--config", str(base / "a" / "config.json"), "--out", str(base / "b"),
                 "--workers", "1", "--device", "cpu"]) == 0
    assert (base / "b" / "predictions.csv").read_text() == (base / "a" / "predictions.csv").read_text()
    rerun = json.loads((base / "b" / "config.json").read_text())
    assert rerun["experiment"] == record["experiment"] and rerun["provenance"]["command"][2] == "--config"

    # another command line on the same folder resumes it (nothing of the provenance is compared)
    capsys.readouterr()
    assert main(["train", "--config", str(base / "a"), "--workers", "1", "--device", "cpu"]) == 0
    assert "run folder" in capsys.readouterr().out

    # options given override the stored ones
    assert main(["train", "--config", str(base / "a" / "config.json"), "--out", str(base / "c"),
                 "--subjects", "p1", "--epochs", "2", "--workers", "1", "--device", "cpu"]) == 0
    over = json.loads((base / "c" / "config.json").read_text())
    assert over["experiment"]["train"]["epochs"] == 2 and over["subjects"] == ["p1"]
    assert over["experiment"]["model"] == record["experiment"]["model"]


def test_config_must_be_a_train_run(tmp_path, capsys):
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"kind": "robustness", "experiment": {}, "data": "x"}))
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "robustness" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "o")]) == 1
    assert "--data" in capsys.readouterr().err


# ----------------------------------------------------------------------------- provenance, typing

def test_provenance_holds_the_command_and_version():
    record = provenance()
    assert record["causalnet_version"] == causalnet.__version__ and isinstance(record["command"], list)


def test_the_package_ships_py_typed():
    assert (ROOT / "src" / "causalnet" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["causalnet"]


def test_sweep_reruns_from_its_config_json_with_relative_paths(fake_composite, tmp_path, monkeypatch):
    """Issue 37: the commands that write a config.json rerun from it (sweep, robustness and convert replay the
    recorded command line; relative paths are read from the folder the run started in)."""
    import json
    import shutil

    fast = ["model.dim=8", "model.head_hidden=16", "train.epochs=1", "train.lr=3e-3", "train.members=2",
            "train.member_validation=true", "train.batch_size=16", "train.mirror=false", "train.mirror_tta=false"]
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(fake_composite, work / "data")
    monkeypatch.chdir(work)
    assert main(["sweep", "--data", "data", "--subjects", "s01", "--no-progress", "--workers", "1",
                 "--grid", "train.lr=1e-3,3e-3", "--out", "sw", "--set", *fast]) == 0
    record = json.loads((work / "sw" / "config.json").read_text())
    assert record["provenance"]["command"][:2] == ["causalnet", "sweep"] and record["provenance"]["cwd"] == str(work)
    monkeypatch.chdir(tmp_path)  # elsewhere: the recorded relative paths still find the data
    assert main(["sweep", "--config", str(work / "sw" / "config.json"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "predictions.csv").read_text() == (work / "sw" / "predictions.csv").read_text()
    assert main(["robustness", "--config", str(work / "sw")]) == 1  # a sweep's config.json is not a robustness run
