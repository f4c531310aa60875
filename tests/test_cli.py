"""The `lhy-grade` command line: targets, exit codes, the JSON schema, reproducibility."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from lhy_grader.cli import main
from tests.variants import make_variant

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = str(ROOT / "solutions")
STATUSES = {"passed", "failed", "error", "timeout", "not_implemented", "missing"}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def check_json(*args: str) -> tuple[int, dict]:
    code, out = run("check", "--json", *args)
    return code, json.loads(out)


def test_solutions_get_full_marks_exit_0():
    code, doc = check_json("regression", "--path", SOLUTIONS)
    assert code == 0
    assert doc["score"] == doc["max_score"] > 0


def test_stubs_exit_1():
    code, doc = check_json("regression", "--path", str(ROOT / "exercises"))
    assert code == 1 and doc["score"] == 0.0


def test_json_schema():
    _, doc = check_json("regression", "--path", SOLUTIONS)
    assert set(doc) >= {"score", "max_score", "exercises"}
    assert isinstance(doc["score"], float) and isinstance(doc["max_score"], float)
    for ex in doc["exercises"]:
        assert set(ex) == {"name", "score", "max_score", "status", "checks"}
        assert ex["name"].startswith("regression.")
        assert isinstance(ex["score"], float) and isinstance(ex["max_score"], float)
        assert ex["status"] in STATUSES
        for c in ex["checks"]:
            assert set(c) == {"name", "passed", "message", "hint"}
            assert isinstance(c["passed"], bool)


def test_targets_select_a_module_or_one_function():
    _, doc = check_json("regression.sigmoid", "--path", SOLUTIONS)
    assert [e["name"] for e in doc["exercises"]] == ["regression.sigmoid"]
    _, doc = check_json("regression", "--path", SOLUTIONS)
    assert len(doc["exercises"]) > 1 and all(e["name"].startswith("regression.") for e in doc["exercises"])


@pytest.mark.parametrize("args,fragment", [
    (["check", "nosuchmodule"], "unknown target 'nosuchmodule'"),
    (["check", "regression.nosuchfunction"], "unknown target"),
    (["check", "--path", "/nonexistent/folder"], "does not exist"),
])
def test_usage_errors_exit_2_with_one_line(args, fragment):
    code, out = run(*args)
    assert code == 2
    assert fragment in out
    assert "Traceback" not in out


def test_same_seed_same_json_other_seed_other_inputs(tmp_path):
    buggy = make_variant(tmp_path / "sub", "regression",
                         {"np.mean((y_pred - y_true) ** 2)": "np.sum((y_pred - y_true) ** 2)"})
    _, first = check_json("regression.mse_loss", "--path", str(buggy), "--seed", "5")
    _, again = check_json("regression.mse_loss", "--path", str(buggy), "--seed", "5")
    assert first == again
    _, other = check_json("regression.mse_loss", "--path", str(buggy), "--seed", "6")
    assert other["score"] == first["score"]


def test_no_train_is_accepted():
    code, doc = check_json("regression.linear_model", "--path", SOLUTIONS, "--no-train")
    assert code == 0 and not any(e["name"].startswith("train.") for e in doc["exercises"])


def test_terminal_report_names_the_failure_and_hint(tmp_path):
    buggy = make_variant(tmp_path / "sub", "regression",
                         {"np.mean((y_pred - y_true) ** 2)": "np.sum((y_pred - y_true) ** 2)"})
    code, out = run("check", "regression.mse_loss", "--path", str(buggy))
    assert code == 1
    assert "matches mean((y_pred − y_true)²)" in out
    assert "Smallest failing input" in out
    assert "sum of squares instead of the mean" in out


def test_list_shows_points_and_progress(tmp_path):
    (tmp_path / "regression.py").write_text(
        "def linear_model(x, w, b):\n    return b + x @ w\n\n"
        "def mse_loss(y_pred, y_true):\n    '''doc'''\n    raise NotImplementedError\n")
    code, out = run("list", "--path", str(tmp_path))
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith("regression.")}
    assert "written" in lines["regression.linear_model"]
    assert "todo" in lines["regression.mse_loss"]
    assert "missing" in lines["regression.sigmoid"]


def test_stubs_check_command_reports_drift(tmp_path):
    code, out = run("stubs", "--check", "--solutions", str(ROOT / "solutions"), "--exercises", str(tmp_path))
    assert code == 1 and "out of date" in out
    code, out = run("stubs", "--solutions", str(ROOT / "solutions"), "--exercises", str(tmp_path))
    assert code == 0 and (tmp_path / "regression.py").is_file()
    code, out = run("stubs", "--check", "--solutions", str(ROOT / "solutions"), "--exercises", str(tmp_path))
    assert code == 0


def test_real_process_default_path_is_exercises(tmp_path):
    """Run the installed command in a folder with an exercises/ subfolder."""
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "regression.py").write_text(
        (ROOT / "solutions" / "regression.py").read_text())
    proc = subprocess.run(["lhy-grade", "check", "regression", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["score"] > 0


def test_global_random_state_is_seeded_per_call(tmp_path):
    """Code drawing from np.random's global state (against the rules) still grades reproducibly."""
    noisy = make_variant(tmp_path / "sub", "regression",
                         {"return b + x @ w  # [N]": "return b + x @ w + (np.random.rand() < 0.3)"})
    _, first = check_json("regression.linear_model", "--path", str(noisy), "--seed", "3")
    _, again = check_json("regression.linear_model", "--path", str(noisy), "--seed", "3")
    assert first == again and first["score"] < first["max_score"]
