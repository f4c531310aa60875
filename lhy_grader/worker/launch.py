"""How a worker process comes to life: exec'd directly, or forked by a fork server.

``DirectLauncher`` (the default, used by ``lhy-grade check``) starts
``python -I -m lhy_grader.worker.child`` with rlimits, a new session and a clean
environment: enough for a student's own code on their own machine. ``ForkServer``
(used by batch grading) forks every worker from a warm, clean process that confines
it further where the machine allows (see ``sandbox``) and kills everything it
spawned afterwards.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from lhy_grader.worker.limits import Limits
from lhy_grader.worker.sandbox import Isolation, Policy


class LaunchError(Exception):
    """The fork server could not be started or stopped answering."""


class WorkerProcess(Protocol):
    pid: int

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs."""

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the exit status."""

    def kill(self) -> None:
        """Kill the worker and everything it spawned."""


class Launcher(Protocol):
    #: The group a worker runs under when it has a user of its own (its files are shared with it).
    worker_group: int | None

    def make_workdir(self) -> Path:
        """A new private folder for one worker: its home and its copy of the submission."""

    def launch(self, limits: Limits, home: Path, channel: tuple[int, int], output_fd: int) -> WorkerProcess:
        """Start a worker serving requests on ``channel`` (read fd, write fd), printing to ``output_fd``."""


# ---------------------------------------------------------------------------

class PopenProcess:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


class DirectLauncher:
    """Exec a fresh interpreter per worker, as the current user."""

    worker_group = None

    def make_workdir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="lhy-worker-"))

    def launch(self, limits: Limits, home: Path, channel: tuple[int, int], output_fd: int) -> PopenProcess:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "lhy_grader.worker.child", str(channel[0]), str(channel[1])],
            pass_fds=channel, stdin=subprocess.DEVNULL, stdout=output_fd, stderr=output_fd,
            cwd=home, env=limits.environment(home), start_new_session=True,
            preexec_fn=limits.apply_in_child,
        )
        return PopenProcess(proc)


# ---------------------------------------------------------------------------

class ForkedProcess:
    """A worker forked by the fork server: its exit status comes from the fork server, but
    whether it still runs is read locally from a pidfd (no round trip per call)."""

    def __init__(self, server: "ForkServer", pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None and self.pidfd is not None and not select.select([self.pidfd], [], [], 0)[0]:
            return None
        return self.wait(0.0)

    def wait(self, timeout: float) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.request({"op": "wait", "pid": self.pid, "timeout": timeout},
                                                  timeout=timeout + 30)["status"]
        return self.returncode

    def kill(self) -> None:
        status = self.server.request({"op": "kill", "pid": self.pid}, timeout=60)["status"]
        if self.returncode is None:
            self.returncode = status
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class ForkServer:
    """A warm parent (``zygote``) that forks one fresh, confined worker per ``launch``.

    One fork server serves one worker at a time (it kills everything of the previous
    one first); use one per grading process or thread.
    """

    def __init__(self, policy: Policy | None = None, preload: tuple[str, ...] = ("numpy",),
                 limits: Limits | None = None) -> None:
        self.policy = policy or Policy()
        self.preload = preload
        self.limits = limits or Limits()
        self.isolation: Isolation | None = None
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen | None = None
        self.base: Path | None = None
        self.lock = threading.Lock()

    @property
    def worker_group(self) -> int | None:
        self.start()
        return self.isolation.uid

    def start(self, wait: bool = True) -> None:
        """Start the fork server; with ``wait=False`` return while it imports, ``start()``
        again to wait until it is ready."""
        if self.sock is not None:
            if wait and self.isolation is None:
                hello = self._receive(self.limits.startup_seconds)
                self.isolation = Isolation.from_json(hello.get("isolation", {}))
            return
        self.base = Path(tempfile.mkdtemp(prefix="lhy-sandbox-"))
        os.chmod(self.base, 0o711)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "lhy_grader.worker.zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, cwd=self.base,
                env=self.limits.environment(self.base),
            )
        finally:
            theirs.close()
        self.sock = ours
        config = {"limits": self.limits.to_json(), "policy": self.policy.to_json(),
                  "preload": list(self.preload), "base": str(self.base)}
        ours.send(json.dumps(config).encode())
        if wait:
            self.start()

    def make_workdir(self) -> Path:
        self.start()
        workdir = Path(tempfile.mkdtemp(prefix="worker-", dir=self.base))
        os.chmod(workdir, 0o711)  # a worker under its own user may enter, not list
        return workdir

    def launch(self, limits: Limits, home: Path, channel: tuple[int, int], output_fd: int) -> ForkedProcess:
        self.start()
        if limits != self.limits:
            raise ValueError("a fork server applies the limits it was started with")
        with self.lock:
            socket.send_fds(self.sock, [json.dumps({"op": "spawn", "home": str(home)}).encode()],
                            [channel[0], channel[1], output_fd])
            reply = self._receive(30)
        return ForkedProcess(self, int(reply["pid"]))

    def request(self, message: dict, timeout: float) -> dict:
        with self.lock:
            if self.sock is None:
                raise LaunchError("the fork server is closed")
            self.sock.send(json.dumps(message).encode())
            return self._receive(timeout)

    def _receive(self, timeout: float) -> dict:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except (socket.timeout, OSError) as e:
            raise LaunchError(f"the fork server did not answer: {e}") from None
        if not data:
            raise LaunchError("the fork server exited")
        return json.loads(data)

    def close(self) -> None:
        """Stop the fork server; it kills whatever its workers left behind first."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> "ForkServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
