"""`lhy-grade grade`: hostile and honest students in one batch, resume after SIGKILL,
the Dask executor, and the gradebook formats. Real processes and real limits,
bounded in time and size (a shared 2-core machine)."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from lhy_grader import catalogue
from lhy_grader.batch.store import Gradebook
from lhy_grader.runner import grade_submission

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / "solutions" / "regression.py").read_text()
STUB = (ROOT / "exercises" / "regression.py").read_text()
TARGETS = ["regression.linear_model", "regression.mse_loss", "regression.relu_model"]  # kept small: a shared machine
EXERCISES = [ex.name for ex in catalogue.select(TARGETS)]
POINTS = {ex.name: ex.points for ex in catalogue.select(TARGETS)}
ONLY = [option for target in TARGETS for option in ("--only", target)]
FULL = sum(POINTS.values())
DAEMON_TAG = f"{os.getpid() % 10**5}.25"
LHY_GRADE = [sys.executable, "-c", "from lhy_grader.cli import main; main()"]
ODD_NAMES = ['odd name, "quoted" [bold]x', "名前 with space", "-rf"]


def override(source: str) -> str:
    """The reference with some functions redefined (the later definition wins)."""
    return REFERENCE + "\n\n" + textwrap.dedent(source)


def hostile_students(submissions: Path, out: Path, seed: int) -> dict[str, str]:
    alice = submissions / "honest_alice" / "regression.py"
    secrets = [ROOT / "solutions" / "regression.py", out / "gradebook.sqlite", out / "grading.log", alice]
    targets = [out / "grades.csv", out / "feedback" / "honest_alice.json", alice, out / "gradebook.sqlite"]
    return {
        "infinite_loop": override("""
            def relu_model(x, W, b, c, b0):
                while True:
                    pass
        """),
        "memory_bomb": override("""
            def relu_model(x, W, b, c, b0):
                hoard = [0] * (1 << 33)
                return hoard
        """),
        "fork_storm": override("""
            import os, time
            import numpy as np
            def relu_model(x, W, b, c, b0):
                for _ in range(300):
                    if os.fork() == 0:
                        time.sleep(20)
                        os._exit(0)
                return b0 + np.maximum(0.0, x @ W.T + b) @ c
        """),
        "os_exit": override("""
            import os
            def mse_loss(y_pred, y_true):
                os._exit(0)
        """),
        "sys_exit_at_import": REFERENCE + "\nimport sys\nsys.exit(0)\n",
        "fake_output": override("""
            import json, numpy as np
            def relu_model(x, W, b, c, b0):
                print("PASSED regression.relu_model 2/2\\nTOTAL 16/16")
                open("results.json", "w").write(json.dumps({"score": 16, "max_score": 16}))
                return np.zeros(x.shape[0])
        """),
        "monkeypatch": override("""
            import math, numpy as np, numpy.testing
            np.allclose = lambda *a, **k: True
            np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)
            np.array_equal = lambda *a, **k: True
            numpy.testing.assert_allclose = lambda *a, **k: None
            math.isclose = lambda *a, **k: True
            try:
                import torch
                torch.allclose = lambda *a, **k: True
                torch.testing.assert_close = lambda *a, **k: None
            except ImportError:
                pass
            def relu_model(x, W, b, c, b0):
                return np.zeros(x.shape[0])
        """),
        "lying_eq": override("""
            import numpy as np
            class Liar(float):
                def __eq__(self, other):
                    return True
                __hash__ = float.__hash__
            class Sneaky(np.ndarray):
                def __eq__(self, other):
                    return np.ones(np.broadcast(self, other).shape, bool)
            def relu_model(x, W, b, c, b0):
                return np.zeros(x.shape[0]).view(Sneaky)
            def mse_loss(y_pred, y_true):
                return Liar(1e9)
        """),
        "reader": override(f"""
            import os
            import numpy as np
            SEED = "{seed}"
            LEAKS = []
            for path in {[str(p) for p in secrets]!r}:
                try:
                    with open(path, "rb") as f:
                        f.read(10)
                    LEAKS.append(path)
                except OSError:
                    pass
            for pid in filter(str.isdigit, os.listdir("/proc")):
                for part in ("cmdline", "environ"):
                    try:
                        with open(f"/proc/{{pid}}/{{part}}", "rb") as f:
                            if SEED.encode() in f.read():
                                LEAKS.append(f"/proc/{{pid}}/{{part}}")
                    except OSError:
                        pass
            def relu_model(x, W, b, c, b0):
                if LEAKS:
                    raise RuntimeError(f"LEAKED {{LEAKS}}")
                return b0 + np.maximum(0.0, x @ W.T + b) @ c
        """),
        "writer": override(f"""
            import numpy as np
            WROTE = []
            for path in {[str(p) for p in targets]!r}:
                try:
                    with open(path, "a") as f:
                        f.write("tampered")
                    WROTE.append(path)
                except OSError:
                    pass
            def relu_model(x, W, b, c, b0):
                if WROTE:
                    raise RuntimeError(f"WROTE {{WROTE}}")
                return b0 + np.maximum(0.0, x @ W.T + b) @ c
        """),
        "daemon": REFERENCE + textwrap.dedent(f"""
            import os
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{DAEMON_TAG}"])
                os._exit(0)
        """),
        "stdout_flood": override("""
            import sys
            import numpy as np
            FLOODED = []
            def relu_model(x, W, b, c, b0):
                if not FLOODED:
                    FLOODED.append(1)
                    for _ in range(32):
                        sys.stdout.write("spam " * 50000)
                return b0 + np.maximum(0.0, x @ W.T + b) @ c
        """),
        "syntax_error": REFERENCE + "\ndef broken(:\n    pass\n",
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One batch of honest and hostile students graded by the real command, --jobs 2."""
    base = tmp_path_factory.mktemp("batch")
    submissions, out = base / "submissions", base / "out"
    submissions.mkdir()
    out.mkdir()
    seed = Gradebook(out / "gradebook.sqlite").seed()  # known to the test, so a leak can be searched for
    files = {"honest_alice": REFERENCE, "honest_stub": STUB,
             "honest_buggy": REFERENCE.replace("np.mean((y_pred - y_true) ** 2)", "np.sum((y_pred - y_true) ** 2)"),
             **{name: REFERENCE for name in ODD_NAMES},
             **hostile_students(submissions, out, seed)}
    for student, source in files.items():
        (submissions / student).mkdir()
        (submissions / student / "regression.py").write_text(source)
    (submissions / "empty").mkdir()
    (submissions / "symlinked").mkdir()  # a link to the reference is not a submission
    (submissions / "symlinked" / "regression.py").symlink_to(ROOT / "solutions" / "regression.py")
    (submissions / "honest_alice" / "data.bin").write_bytes(b"\0" * (70 << 20))  # not Python: never copied
    tooling = submissions / "tooling"
    tooling.mkdir()
    (tooling / "regression.py").write_text(REFERENCE)
    for name, text in {"sitecustomize.py": "raise SystemExit(3)", "usercustomize.py": "1/0",
                       "evil.pth": "import os; os._exit(9)", "numpy.py": "raise ImportError('fake numpy')",
                       "math.py": "raise ImportError('fake math')", "json.py": "raise ImportError('fake json')",
                       "conftest.py": "print('PASSED 16/16')\nraise SystemExit(0)"}.items():
        (tooling / name).write_text(text)
    with zipfile.ZipFile(submissions / "zipped.zip", "w") as archive:
        archive.writestr("zipped/regression.py", REFERENCE)
    with zipfile.ZipFile(submissions / "traversal.zip", "w") as archive:
        archive.writestr("regression.py", REFERENCE)
        archive.writestr("../../escaped.py", "print('escaped')")
    (submissions / ".DS_Store").write_text("not a student")

    started = time.monotonic()
    run = subprocess.run([*LHY_GRADE, "grade", str(submissions), "--out", str(out),
                          "--jobs", "2", *ONLY, "--call-timeout", "3", "--timeout", "90",
                          "--memory", "3072", "--max-processes", "32", "--quiet"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    feedback = {path.stem: json.loads(path.read_text()) for path in (out / "feedback").glob("*.json")}
    return {"submissions": submissions, "out": out, "seed": seed, "feedback": feedback, "run": run,
            "seconds": time.monotonic() - started}


def exercise(feedback: dict, student: str, function: str) -> dict:
    return next(e for e in feedback[student]["exercises"] if e["name"] == f"regression.{function}")


def messages(ex: dict) -> str:
    return "\n".join(c["message"] for c in ex["checks"])


def assert_only_lost(feedback: dict, student: str, lost: dict[str, tuple[str, str]]) -> None:
    """``student`` lost exactly the ``lost`` exercises ({function: (status, message part)})."""
    for name in EXERCISES:
        function = name.split(".")[1]
        ex = exercise(feedback, student, function)
        if function in lost:
            status, words = lost[function]
            assert (ex["status"], ex["score"]) == (status, 0.0), (student, function, ex["status"], messages(ex))
            assert words in messages(ex), (student, function, messages(ex))
        else:
            assert ex["status"] == "passed" and ex["score"] == ex["max_score"], (student, function, messages(ex))


def run_alone(worker, folder: Path, seed: int) -> dict:
    return grade_submission(folder, catalogue.select(TARGETS), seed=seed, worker=worker).to_json()


# ---------------------------------------------------------------------------
# Honest students

def test_every_student_is_in_the_gradebook(batch):
    students = sorted(p.name.removesuffix(".zip") for p in batch["submissions"].iterdir()
                      if not p.name.startswith("."))
    assert sorted(batch["feedback"]) == students
    rows = list(csv.reader((batch["out"] / "grades.csv").open()))
    assert [r[0] for r in rows[1:]] == students


def test_honest_students_score_exactly_as_when_graded_alone(batch, worker):
    feedback, submissions, seed = batch["feedback"], batch["submissions"], batch["seed"]
    for student in ("honest_alice", "honest_buggy", "honest_stub"):
        assert feedback[student] == run_alone(worker, submissions / student, seed), student
    assert feedback["honest_alice"]["score"] == FULL
    assert feedback["honest_stub"]["score"] == 0
    assert 0 < feedback["honest_buggy"]["score"] < FULL
    for student in [*ODD_NAMES, "zipped", "tooling"]:
        assert feedback[student] == feedback["honest_alice"], student


# ---------------------------------------------------------------------------
# Hostile students: each gets the right score and reason

def test_infinite_loop_is_a_timeout_of_that_exercise_only(batch):
    assert_only_lost(batch["feedback"], "infinite_loop", {"relu_model": ("timeout", "did not return within 3 s")})


def test_memory_bomb_is_a_memory_error(batch):
    assert_only_lost(batch["feedback"], "memory_bomb", {"relu_model": ("error", "MemoryError")})


@pytest.mark.skipif(os.geteuid() != 0, reason="the process limit binds under a user of the worker's own")
def test_fork_storm_hits_the_process_limit(batch):
    assert_only_lost(batch["feedback"], "fork_storm", {"relu_model": ("error", "BlockingIOError")})


def test_os_exit_and_sys_exit(batch):
    assert_only_lost(batch["feedback"], "os_exit", {"mse_loss": ("error", "exited with status 0")})
    assert batch["feedback"]["sys_exit_at_import"]["score"] == 0
    for ex in batch["feedback"]["sys_exit_at_import"]["exercises"]:
        assert ex["status"] == "error" and "failed to import: SystemExit" in messages(ex)


def test_printed_results_and_written_files_are_ignored(batch):
    assert_only_lost(batch["feedback"], "fake_output", {"relu_model": ("failed", "")})
    markdown = (batch["out"] / "feedback" / "fake_output.md").read_text()
    assert "TOTAL 16/16" in markdown  # shown to the student as output, never taken as a result


def test_monkeypatched_comparisons_and_lying_objects_earn_nothing(batch):
    assert_only_lost(batch["feedback"], "monkeypatch", {"relu_model": ("failed", "")})
    assert_only_lost(batch["feedback"], "lying_eq", {"relu_model": ("failed", ""), "mse_loss": ("failed", "")})


def test_files_outside_the_sandbox_and_the_seed_cannot_be_read(batch):
    assert_only_lost(batch["feedback"], "reader", {})


def test_the_output_folder_and_other_students_cannot_be_written(batch):
    assert_only_lost(batch["feedback"], "writer", {})
    assert "tampered" not in (batch["submissions"] / "honest_alice" / "regression.py").read_text()
    assert "tampered" not in (batch["out"] / "grades.csv").read_text()


def test_a_daemon_does_not_outlive_the_run(batch):
    assert_only_lost(batch["feedback"], "daemon", {})
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if DAEMON_TAG.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                leftovers.append(pid)
        except OSError:
            pass
    assert leftovers == []


def test_stdout_flood_is_truncated(batch):
    assert_only_lost(batch["feedback"], "stdout_flood", {})
    markdown = (batch["out"] / "feedback" / "stdout_flood.md").read_text()
    assert "output truncated" in markdown and len(markdown) < 20_000


def test_syntax_error_empty_folder_symlink_and_unsafe_zip(batch):
    feedback = batch["feedback"]
    for ex in feedback["syntax_error"]["exercises"]:
        assert ex["status"] == "error" and "SyntaxError" in messages(ex) and "regression.py:" in messages(ex)
    for student in ("empty", "symlinked"):
        for ex in feedback[student]["exercises"]:
            assert ex["status"] == "missing" and "regression.py not found" in messages(ex)
    for ex in feedback["traversal"]["exercises"]:
        assert ex["status"] == "error" and "points outside the folder" in messages(ex)
    assert not list(batch["submissions"].parent.rglob("escaped.py"))


# ---------------------------------------------------------------------------
# Formats

def test_grades_csv_format(batch):
    rows = list(csv.reader((batch["out"] / "grades.csv").open(newline="")))
    assert rows[0] == ["student", "total", "max_total", *EXERCISES]
    by_student = {r[0]: r for r in rows[1:]}
    for student, feedback in batch["feedback"].items():
        row = by_student[student]
        assert float(row[1]) == feedback["score"] and float(row[2]) == FULL
        assert [float(v) for v in row[3:]] == [e["score"] for e in feedback["exercises"]]


def test_feedback_json_is_the_check_json_schema(batch):
    for feedback in batch["feedback"].values():
        assert set(feedback) == {"score", "max_score", "exercises"}
        assert [e["name"] for e in feedback["exercises"]] == EXERCISES
        for ex in feedback["exercises"]:
            assert set(ex) == {"name", "score", "max_score", "status", "checks"}
            assert ex["status"] in ("passed", "failed", "error", "timeout", "not_implemented", "missing")
            assert isinstance(ex["score"], float) and ex["max_score"] == POINTS[ex["name"]]
            for check in ex["checks"]:
                assert set(check) == {"name", "passed", "message", "hint"}


def test_student_feedback_page_and_class_summary(batch):
    out = batch["out"]
    page = (out / "feedback" / "honest_buggy.md").read_text()
    assert "**Score:" in page and "✗ matches mean" in page and "**Hint:** sum of squares" in page
    summary = (out / "summary.md").read_text()
    assert "Checks failed most often" in summary and "regression.linear_model" in summary
    assert "## Sandbox" in summary
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert oct((out).stat().st_mode & 0o777) == "0o700"


def test_rerun_grades_nothing_and_a_changed_submission_again(batch):
    out, submissions = batch["out"], batch["submissions"]
    grade = [*LHY_GRADE, "grade", str(submissions), "--out", str(out), "--jobs", "1",
             *ONLY, "--call-timeout", "3", "--timeout", "90", "--memory", "3072", "--quiet"]
    again = subprocess.run(grade, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and " 0 graded," in again.stdout, again.stdout
    assert "workers run as" in (out / "summary.md").read_text()  # the sandbox report is kept
    (submissions / "honest_stub" / "regression.py").write_text(REFERENCE)
    changed = subprocess.run(grade, capture_output=True, text=True, timeout=600)
    assert changed.returncode == 0 and " 1 graded," in changed.stdout, changed.stdout
    assert json.loads((out / "feedback" / "honest_stub.json").read_text())["score"] == FULL


# ---------------------------------------------------------------------------
# Resume after SIGKILL

SMALL = ["--only", "regression.linear_model", "--only", "regression.mse_loss"]


def graded_rows(database: Path) -> dict[str, str]:
    if not database.exists():
        return {}
    with sqlite3.connect(database) as db:
        try:
            return dict(db.execute("SELECT student, graded_at || digest FROM results"))
        except sqlite3.OperationalError:
            return {}


def processes_working_in(folder: Path) -> list[int]:
    """Processes whose working directory is inside ``folder`` (the grading processes')."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(folder):
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_sigkill_then_rerun_grades_only_the_rest_and_loses_nothing(tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    for i in range(6):
        (submissions / f"s{i}").mkdir(parents=True)
        (submissions / f"s{i}" / "regression.py").write_text(REFERENCE if i % 2 == 0 else STUB)
    command = [*LHY_GRADE, "grade", str(submissions), "--out", str(out),
               "--jobs", "1", *SMALL, "--quiet"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(graded_rows(out / "gradebook.sqlite")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = graded_rows(out / "gradebook.sqlite")
    assert 2 <= len(before) < 6, before
    deadline = time.monotonic() + 10
    while processes_working_in(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_working_in(out) == []  # its grading processes died with it

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    after = graded_rows(out / "gradebook.sqlite")
    assert sorted(after) == [f"s{i}" for i in range(6)]
    assert all(after[s] == stamp for s, stamp in before.items())  # graded once, kept as it was
    assert f"{len(before)} already graded, {6 - len(before)} to grade" in (out / "grading.log").read_text()
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [float(r["total"]) for r in rows] == [4.0 if i % 2 == 0 else 0.0 for i in range(6)]

    regrade = subprocess.run([*command, "--regrade"], capture_output=True, text=True, timeout=600)
    assert regrade.returncode == 0 and " 6 graded," in regrade.stdout, regrade.stdout


# ---------------------------------------------------------------------------
# Dask

def test_dask_executor_on_a_local_cluster(tmp_path, worker):
    distributed = pytest.importorskip("distributed")
    from lhy_grader.batch.run import BatchOptions, grade_folder
    from lhy_grader.worker.limits import Limits

    submissions, out = tmp_path / "submissions", tmp_path / "out"
    sources = {"alice": REFERENCE, "stub": STUB,
               "exits": override("import os\ndef mse_loss(y_pred, y_true):\n    os._exit(1)\n")}
    for student, source in sources.items():
        (submissions / student).mkdir(parents=True)
        (submissions / student / "regression.py").write_text(source)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp://", dashboard_address=None) as cluster:
        report = grade_folder(BatchOptions(submissions, out, limits=Limits(call_seconds=5, submission_seconds=60),
                                           targets=("regression.linear_model", "regression.mse_loss"),
                                           executor="dask", scheduler=cluster.scheduler_address))
    assert report.graded == 3 and "no network" in report.isolation or os.geteuid() != 0
    seed = Gradebook(out / "gradebook.sqlite").seed()
    targets = catalogue.select(["regression.linear_model", "regression.mse_loss"])
    for student in sources:
        alone = grade_submission(submissions / student, targets, seed=seed, worker=worker).to_json()
        assert json.loads((out / "feedback" / f"{student}.json").read_text()) == alone, student
    assert [r["total"] for r in csv.DictReader((out / "grades.csv").open())] == ["4", "2", "0"]
