"""The fork server's workers: real processes, real limits, bounded in time and size."""

from __future__ import annotations

import os
import socket
import textwrap
import time
from pathlib import Path

import pytest

from lhy_grader.worker.client import StudentRaised, SubmissionTimeout, Worker, WorkerCrashed
from lhy_grader.worker.launch import ForkServer
from lhy_grader.worker.limits import Limits
from lhy_grader.worker.sandbox import Policy

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and users of their own need root")
LIMITS = Limits(cpu_seconds=20, memory_bytes=3 << 30, file_bytes=1 << 20, open_files=64, processes=24,
                output_bytes=4096, home_bytes=8 << 20, call_seconds=10)


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("secret")
    (folder / "answer.txt").write_text("the reference")
    return folder


@pytest.fixture(scope="module")
def server(secret):
    with ForkServer(Policy(hide=(str(secret),)), preload=("numpy",), limits=LIMITS) as fork_server:
        yield fork_server


def student(tmp_path: Path, source: str, name: str = "tools") -> Path:
    folder = tmp_path / "submission"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def run(server: ForkServer, folder: Path, fn: str, *args, limits: Limits = LIMITS):
    with Worker(limits, preload=(), launcher=server) as worker:
        assert worker.load(folder, ["tools"])["tools"]["status"] == "ok"
        return worker.call(f"tools.{fn}", args, timeout=10).value, worker


def test_environment_is_clean_and_cwd_is_an_empty_private_home(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LHY_GRADING_SECRET", "s3cr3t")
    folder = student(tmp_path, """
        import os
        def look():
            return dict(os.environ), os.getcwd(), sorted(os.listdir(".")), os.getuid()
    """)
    (environment, cwd, listing, uid), _ = run(server, folder, "look")
    assert "LHY_GRADING_SECRET" not in environment and "s3cr3t" not in repr(environment)
    assert environment["HOME"] == cwd and listing == []
    assert uid == (server.isolation.uid if server.isolation.uid is not None else os.getuid())


@ROOT_ONLY
def test_as_root_workers_get_a_user_of_their_own_no_network_and_hidden_paths(server, secret):
    isolation = server.isolation
    assert isolation.uid is not None and isolation.no_network and str(secret) in isolation.hidden


def test_hidden_folder_and_other_files_cannot_be_read(server, secret, tmp_path):
    folder = student(tmp_path, """
        def read(path):
            try:
                with open(path) as f:
                    return f.read()
            except OSError as e:
                return type(e).__name__
    """)
    if server.isolation.hidden:
        value, _ = run(server, folder, "read", str(secret / "answer.txt"))
        assert value in ("FileNotFoundError", "PermissionError")
    if server.isolation.uid is not None:
        other = tmp_path / "private.txt"
        other.write_text("not for workers")
        other.chmod(0o600)
        assert run(server, folder, "read", str(other))[0] == "PermissionError"


@ROOT_ONLY
def test_no_network(server, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        folder = student(tmp_path, f"""
            import socket
            def connect():
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                    return "connected"
                except OSError as e:
                    return type(e).__name__
        """)
        assert run(server, folder, "connect")[0] != "connected"
    finally:
        listener.close()


def test_output_is_captured_and_truncated(server, tmp_path):
    folder = student(tmp_path, """
        import os, sys
        def flood():
            for _ in range(20):
                sys.stdout.write("x" * (1 << 18))
                os.write(2, b"y" * (1 << 18))
            print("done")
            return 42
    """)
    value, worker = run(server, folder, "flood")
    assert value == 42
    text = worker.output_text()
    assert len(text) < 5000 and "more bytes of output were dropped" in text


def test_file_size_and_open_file_limits(server, tmp_path):
    folder = student(tmp_path, """
        def big_file():
            with open("big.bin", "wb") as f:
                f.write(b"0" * (4 << 20))

        def many_files():
            return [open(f"f{i}", "w") for i in range(200)]
    """)
    with Worker(LIMITS, preload=(), launcher=server) as worker:
        worker.load(folder, ["tools"])
        with pytest.raises(StudentRaised, match="File too large"):
            worker.call("tools.big_file", timeout=10)
        with pytest.raises(StudentRaised, match="Too many open files"):
            worker.call("tools.many_files", timeout=10)


def test_memory_limit_is_a_memory_error(server, tmp_path):
    folder = student(tmp_path, """
        import numpy as np
        def bomb():
            return [0] * (1 << 33)          # 64 GiB of pointers
        def numpy_bomb():
            blocks = []
            while True:                      # untouched pages: only the address-space limit stops it
                blocks.append(np.zeros(1 << 28))
    """)
    for fn in ("bomb", "numpy_bomb"):
        with pytest.raises(StudentRaised, match="MemoryError"):
            run(server, folder, fn)


def test_cpu_limit_kills_the_worker(tmp_path, secret):
    limits = Limits(cpu_seconds=1, call_seconds=30, memory_bytes=3 << 30)
    folder = student(tmp_path, """
        def spin():
            while True:
                pass
    """)
    with ForkServer(Policy(), preload=(), limits=limits) as server:
        started = time.monotonic()
        with pytest.raises(WorkerCrashed, match="SIGXCPU"):
            run(server, folder, "spin", limits=limits)
        assert time.monotonic() - started < 20


def test_submission_budget_stops_every_later_call(tmp_path):
    limits = Limits(submission_seconds=1.5, memory_bytes=3 << 30)
    folder = student(tmp_path, """
        import time
        def slow():
            time.sleep(30)
        def fast():
            return 1
    """)
    with ForkServer(Policy(), preload=(), limits=limits) as server, \
            Worker(limits, preload=(), launcher=server) as worker:
        worker.load(folder, ["tools"])
        assert worker.call("tools.fast", timeout=5).value == 1
        with pytest.raises(SubmissionTimeout):
            worker.call("tools.slow", timeout=20)
        with pytest.raises(SubmissionTimeout, match="time budget of 1.5 s"):
            worker.call("tools.fast", timeout=5)


def _sleepers(tag: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if tag.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_daemons_and_forked_children_do_not_outlive_the_worker(server, tmp_path):
    tag = f"{time.time_ns() % 10**6}.5"
    folder = student(tmp_path, f"""
        import os
        def spawn():
            if os.fork() == 0:          # a daemon: new session, double fork, exec
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{tag}"])
                os._exit(0)
            if os.fork() == 0:          # a plain child in the worker's group
                os.execv("/bin/sleep", ["sleep", "{tag}"])
            return "spawned"
    """)
    value, _ = run(server, folder, "spawn")
    assert value == "spawned"
    deadline = time.monotonic() + 5
    while _sleepers(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers(tag) == []


@ROOT_ONLY
def test_fork_storm_is_bounded_by_the_process_limit(server, tmp_path):
    folder = student(tmp_path, """
        import os, time
        def storm():
            children = 0
            try:
                for _ in range(200):
                    if os.fork() == 0:
                        time.sleep(20)
                        os._exit(0)
                    children += 1
            except OSError as e:
                return children, type(e).__name__
            return children, None
    """)
    (children, error), _ = run(server, folder, "storm")
    assert error == "BlockingIOError" and children < LIMITS.processes


def test_a_fresh_process_per_worker_and_nothing_left_from_the_previous_one(server, tmp_path):
    folder = student(tmp_path, """
        import os
        def mark():
            open("left-behind", "w").write("x")
            return os.getpid(), sorted(os.listdir("."))
    """)
    (first_pid, first), _ = run(server, folder, "mark")
    (second_pid, second), _ = run(server, folder, "mark")
    assert first_pid != second_pid and first == second == ["left-behind"]


def test_exits_and_tooling_files_do_not_break_the_worker(server, tmp_path):
    folder = student(tmp_path, """
        import os, sys
        def leave():
            os._exit(3)
        def quit():
            sys.exit(0)
        def fine(x):
            import json, numpy
            return numpy.asarray(x).sum().item(), json.dumps(1)
    """)
    for name, text in {"sitecustomize.py": "raise SystemExit('hijacked')", "usercustomize.py": "1/0",
                       "numpy.py": "raise ImportError('fake numpy')", "json.py": "raise ImportError('fake json')",
                       "evil.pth": "import os; os._exit(9)", "conftest.py": "raise SystemExit(5)"}.items():
        (folder / name).write_text(text)
    with Worker(LIMITS, preload=(), launcher=server) as worker:
        worker.load(folder, ["tools"])
        with pytest.raises(WorkerCrashed, match="exited with status 3"):
            worker.call("tools.leave", timeout=10)
        with pytest.raises(StudentRaised, match="SystemExit"):
            worker.call("tools.quit", timeout=10)
        assert worker.call("tools.fine", ([1, 2, 3],), timeout=10).value == (6, "1")


def test_without_isolation_features_the_fallback_is_reported_and_workers_still_run(tmp_path):
    """What a machine without root gets (asked for here by turning the features off)."""
    folder = student(tmp_path, """
        import os
        def who():
            return os.getuid()
    """)
    with ForkServer(Policy(own_user=False, no_network=False), preload=(), limits=LIMITS) as server:
        summary = server.isolation.summary()
        assert server.isolation.uid is None and not server.isolation.no_network
        assert "grader's own user" in summary and "NETWORK AVAILABLE" in summary
        assert run(server, folder, "who")[0] == os.getuid()
