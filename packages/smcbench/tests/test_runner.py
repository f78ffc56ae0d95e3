"""The finetune/test loop end to end on real task data with a tiny encoder; reports and probes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from smcbench.encoders import encoder_factory, file_embedding
from smcbench.metrics import score
from smcbench.probe import linear_probe
from smcbench.report import collect, summarise, tables
from smcbench.runner import run_one


def test_metrics_ignore_pad_and_score_positive_class():
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    preds = torch.tensor([2, 1, 2, 1, 2, 2])
    assert score("acc", preds, target, 3) == pytest.approx(2 / 4)
    assert score("f1", preds, target, 3) == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))


@pytest.mark.data
def test_run_one_trains_tests_and_resumes(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMPHONIA_CACHE", str(tmp_path / "cache"))
    make = encoder_factory("scratch", config="tiny")
    rec = run_one("ME", make, "scratch", profile="smoke", out_dir=tmp_path, data_root=data_root, progress=False, limit=2)
    assert rec["task"] == "ME" and 0.0 <= rec["test"] <= 1.0 and rec["best_epoch"] == 0
    files = list((tmp_path / "runs" / "scratch").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["test"] == rec["test"]

    def boom():  # a finished run is read back, never recomputed
        raise AssertionError("retrained a finished run")

    assert run_one("ME", boom, "scratch", profile="smoke", out_dir=tmp_path, data_root=data_root, limit=2) == rec
    md = tables(summarise(collect([tmp_path / "runs"])), tmp_path / "report")
    assert "| scratch |" in md and (tmp_path / "report" / "results.png").stat().st_size > 0


def test_report_mean_and_spread_over_seeds(tmp_path):
    for seed, value in enumerate([0.5, 0.7]):
        (tmp_path / f"r{seed}.json").write_text(json.dumps({"task": "ME", "model": "m", "seed": seed, "test": value}))
    summary = summarise(collect([tmp_path]))
    mean, std, n = summary["m"]["ME"]
    assert (mean, n) == (pytest.approx(0.6), 2) and std == pytest.approx(0.1)


def test_linear_probe_separates_separable_classes_and_not_noise():
    rng = np.random.default_rng(0)
    labels = ["a"] * 40 + ["b"] * 40
    groups = [f"g{i // 2}" for i in range(80)]
    X = rng.normal(size=(80, 8))
    good = linear_probe(X + np.array([3.0 if y == "a" else -3.0 for y in labels])[:, None], labels, groups)
    noise = linear_probe(X, labels, groups)
    assert good["acc"] > 0.95 and noise["acc"] < 0.8


def test_file_embedding_is_a_vector(m21_midis):
    enc = encoder_factory("scratch", config="tiny")()
    v = file_embedding(enc, m21_midis[0], max_len=64)
    assert v.shape == (enc.hidden_size,) and np.isfinite(v).all()


@pytest.mark.data
def test_probe_cli_writes_results_and_merged_table(data_root, tmp_path, capsys):
    """`smcbench probe` on real files (genre: POP909 vs ASAP/CPM, a few files per class) for two models, then
    one merged table with a row per model."""
    from smcbench.cli import main

    for name in ("a", "b"):
        code = main(["--data-root", str(data_root), "probe", "--model", "scratch", "--name", name, "--probes",
                     "genre", "--max-per-class", "6", "--out", str(tmp_path), "--seed", "0"])
        assert code == 0
    res = json.loads((tmp_path / "probe_a.json").read_text())["results"]["genre"]
    assert res["n_files"] == 12 and 0.0 <= res["acc"] <= 1.0
    table = (tmp_path / "probes.md").read_text().splitlines()
    assert table[0].startswith("| model | genre") and [r.split("|")[1].strip() for r in table[2:4]] == ["a", "b"]
