"""Training checks: the reference passes with a wide margin over seeds, wrong prerequisites
stop training and are named, the grader trusts only its own evaluation, and the CLI
selects, reports and plots them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lhy_grader.cli import main, select_targets
from lhy_grader.runner import grade_submission
from lhy_grader.training import TRAININGS, TrainingOptions, select
from lhy_grader.training import masked_lm, seq2seq
from lhy_grader.training.grading import evaluate_weights, run_training_check, seeds_of, train_in_worker
from lhy_grader.worker.client import Worker
from tests.variants import make_variant

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
SEEDS = [2021, 1, 2, 3, 4]
BY_NAME = {check.name: check for check in TRAININGS}
#: How far inside its threshold the reference must land on every seed.
MARGIN = {"train.regression_fit": 0.1, "train.seq2seq_reversal": 0.97, "train.masked_lm": 0.97}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BY_NAME))
def test_reference_passes_with_a_wide_margin_over_seeds(worker, name):
    check = BY_NAME[name]
    worker.load(SOLUTIONS, check.modules)
    for seed in SEEDS:
        steps = []
        weights, losses = train_in_worker(worker, check, seed=seed, device="cpu",
                                          progress=lambda *report: steps.append(report))
        evaluation = evaluate_weights(worker, check, weights, seed=seed)
        assert evaluation.passed, (seed, evaluation.summary())
        if evaluation.higher_is_better:
            assert evaluation.value >= MARGIN[name], (seed, evaluation.summary())
        else:
            assert evaluation.value <= MARGIN[name] * evaluation.threshold, (seed, evaluation.summary())
        total = len(losses)
        assert steps[-1][:2] == (total, total) and all(0 < step <= total for step, _, _ in steps)
        assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_the_same_code_trains_on_every_device(worker, device):
    check = BY_NAME["train.masked_lm"]
    worker.load(SOLUTIONS, check.modules)
    result = run_training_check(worker, check, seed=2021, device=device, options=TrainingOptions([check]))
    assert result.status == "passed", result.checks[0].message


def test_same_seed_same_result_other_seed_other_result(worker):
    check = BY_NAME["train.regression_fit"]
    worker.load(SOLUTIONS, check.modules)
    options = TrainingOptions([check])
    first, again, other = (run_training_check(worker, check, seed=s, device="cpu", options=options).to_json()
                           for s in (7, 7, 8))
    assert first == again and first["status"] == "passed"
    assert first["checks"][0]["message"] != other["checks"][0]["message"]


def test_held_out_data_was_never_trained_on():
    train_seed, eval_seed = seeds_of(BY_NAME["train.seq2seq_reversal"], 2021)
    seen = seq2seq.training_sequences(train_seed)
    held_out = seq2seq.held_out_sources(eval_seed, train_seed)
    assert len(held_out) == seq2seq.EVAL_COUNT and not {row.tobytes() for row in held_out} & seen
    train_seed, eval_seed = seeds_of(BY_NAME["train.masked_lm"], 2021)
    halves = masked_lm.held_out_halves(np.random.default_rng(eval_seed), train_seed)
    assert not {row.tobytes() for row in halves} & masked_lm.training_halves(train_seed)
    assert len({row.tobytes() for row in halves}) == masked_lm.EVAL_COUNT


def test_unscaled_attention_trains_but_fails_under_the_reference_architecture(tmp_path):
    """Even without the function checks, the evaluation exposes a subtly wrong attention:
    the weights fit the student's architecture, not the reference one."""
    folder = make_variant(tmp_path, "attention", {"return q @ k.transpose(-2, -1) / math.sqrt(d)":
                                                  "return q @ k.transpose(-2, -1)"})
    check = BY_NAME["train.seq2seq_reversal"]
    with Worker(preload=("numpy", "torch")) as worker:
        worker.load(folder, check.modules)
        result = run_training_check(worker, check, seed=2021, device="cpu", options=TrainingOptions([check]))
    assert result.status == "failed" and "held-out sequence accuracy" in result.checks[0].message


PREREQUISITE_BUGS = [
    # (training check, module, replacements, the function named in the message)
    ("train.regression_fit", "optimizers", {"m_hat = m / (1 - beta1 ** t)": "m_hat = m",
                                            "v_hat = v / (1 - beta2 ** t)": "v_hat = v"}, "optimizers.adam_step"),
    ("train.seq2seq_reversal", "attention", {"return q @ k.transpose(-2, -1) / math.sqrt(d)":
                                             "return q @ k.transpose(-2, -1)"}, "transformer.encoder_block"),
    ("train.masked_lm", "pretraining", {"inputs = torch.where(to_mask, torch.full_like(tokens, mask_id), tokens)":
                                        "inputs = torch.where(to_mask, random_tokens, tokens)"},
     "pretraining.mlm_mask"),
]


@pytest.mark.parametrize("name,module,replacements,culprit", PREREQUISITE_BUGS,
                         ids=[bug[0] for bug in PREREQUISITE_BUGS])
def test_a_wrong_prerequisite_stops_training_and_is_named(worker, tmp_path, name, module, replacements, culprit):
    folder = make_variant(tmp_path, module, replacements)
    (result,) = grade_submission(folder, [], seed=2021, worker=worker,
                                 training=TrainingOptions([BY_NAME[name]])).exercises
    assert result.name == name and result.status == "failed" and result.score == 0.0
    assert "not trained" in result.checks[0].message and culprit in result.checks[0].message


def test_missing_and_unwritten_prerequisites(worker, tmp_path):
    folder = make_variant(tmp_path, "backprop")
    (folder / "optimizers.py").unlink()
    (missing,) = grade_submission(folder, [], worker=worker,
                                  training=TrainingOptions([BY_NAME["train.regression_fit"]])).exercises
    assert missing.status == "missing" and "optimizers.adam_step (missing)" in missing.checks[0].message
    stubs = Path(__file__).resolve().parents[1] / "exercises"
    (todo,) = grade_submission(stubs, [], worker=worker,
                               training=TrainingOptions([BY_NAME["train.masked_lm"]])).exercises
    assert todo.status == "not_implemented" and todo.score == 0.0


FAKE_TRAINING = '''

import lhy_grader.training.regression_fit as _task


def _fake_train(seed, device, progress=None):
    weights = {{key: np.full(shape, {value}) for key, shape in _task.WEIGHT_SHAPES.items()}}
    return {{"weights": weights, "losses": [0.0]}}


_task.train = _fake_train
'''


@pytest.mark.parametrize("value,message", [("0.0", "held-out mean squared error"), ("float('nan')", "NaN")])
def test_a_worker_that_fakes_its_training_earns_nothing(tmp_path, value, message):
    """The submission replaces the training routine inside its worker: the grader still
    evaluates the weights itself, so zeros fail on the metric and NaN is rejected."""
    folder = make_variant(tmp_path, "backprop")
    source = (folder / "backprop.py").read_text()
    (folder / "backprop.py").write_text(source + FAKE_TRAINING.format(value=value))
    check = BY_NAME["train.regression_fit"]
    with Worker(preload=("numpy", "torch")) as worker:
        worker.load(folder, check.modules)
        result = run_training_check(worker, check, seed=2021, device="cpu", options=TrainingOptions([check]))
    assert result.status == "failed" and result.score == 0.0 and message in result.checks[0].message


def test_errors_and_timeouts_during_training(tmp_path):
    check = BY_NAME["train.regression_fit"]
    raising = make_variant(tmp_path / "raising", "optimizers", {"    beta1, beta2 = betas\n":
                                                                "    beta1, beta2 = betas\n    if t == 7:\n"
                                                                "        raise RuntimeError('step 7')\n"})
    slow = make_variant(tmp_path / "slow", "optimizers", {"    beta1, beta2 = betas\n":
                                                          "    beta1, beta2 = betas\n    import time\n"
                                                          "    time.sleep(1)\n"})
    with Worker(preload=("numpy", "torch")) as worker:
        worker.load(raising, check.modules)
        error = run_training_check(worker, check, seed=1, device="cpu", options=TrainingOptions([check]))
        worker.load(slow, check.modules)
        timeout = run_training_check(worker, dataclasses.replace(check, timeout=3.0), seed=1, device="cpu",
                                     options=TrainingOptions([check]))
    assert error.status == "error" and "RuntimeError: step 7 (optimizers.py:" in error.checks[0].message
    assert timeout.status == "timeout" and "the training timed out" in timeout.checks[0].message


def test_targets_select_training_checks():
    assert select_targets(("train",), False) == ([], list(TRAININGS))
    assert select_targets(("train.masked_lm",), False) == ([], [BY_NAME["train.masked_lm"]])
    exercises, trainings = select_targets((), False)
    assert exercises and trainings == list(TRAININGS)
    assert select_targets((), True)[1] == []
    exercises, trainings = select_targets(("regression", "train.masked_lm"), False)
    assert {e.module for e in exercises} == {"regression"} and trainings == [BY_NAME["train.masked_lm"]]
    assert select_targets(("regression",), False)[1] == []
    with pytest.raises(LookupError):
        select(["train.nothing"])


def test_cli_json_entry_message_and_loss_plot(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["check", "train.regression_fit", "--path", str(SOLUTIONS), "--json",
                                  "--device", "auto", "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (entry,) = doc["exercises"]
    assert entry["name"] == "train.regression_fit" and entry["status"] == "passed"
    assert set(entry) == {"name", "score", "max_score", "status", "checks"}
    assert isinstance(entry["score"], float) and entry["score"] == entry["max_score"] == doc["score"]
    (only,) = entry["checks"]
    assert set(only) == {"name", "passed", "message", "hint"}
    assert "held-out mean squared error" in only["message"] and "final training loss" in only["message"]
    plot = tmp_path / "plots" / "train.regression_fit.png"
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert runner.invoke(main, ["check", "train.nothing", "--path", str(SOLUTIONS)]).exit_code == 2
