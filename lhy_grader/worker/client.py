"""The grader's handle on a worker process: start it, call student functions, kill it.

This is the only way student code runs. Every reply is decoded by ``codec`` into
plain values; exceptions, timeouts and deaths in the worker become the exceptions
below, which the runner turns into statuses and messages.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lhy_grader.worker import codec
from lhy_grader.worker.launch import DirectLauncher, Launcher, LaunchError, WorkerProcess
from lhy_grader.worker.limits import Limits
from lhy_grader.worker.staging import SubmissionTooLarge, stage


class WorkerProblem(Exception):
    """Base of everything that can go wrong while student code runs."""


class StudentRaised(WorkerProblem):
    """The student's function raised; ``str(e)`` is `Type: message (file.py:line)`."""


class NotImplementedYet(StudentRaised):
    """The student's function still raises NotImplementedError."""


class WorkerTimeout(WorkerProblem):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not return within {seconds:g} s (killed)")
        self.seconds = seconds


class SubmissionTimeout(WorkerTimeout):
    """The submission's whole time budget (``Limits.submission_seconds``) ran out."""

    def __init__(self, seconds: float) -> None:
        WorkerProblem.__init__(self, f"did not return before the submission's time budget of {seconds:g} s "
                                     f"ran out (killed)")
        self.seconds = seconds


class WorkerCrashed(WorkerProblem):
    """The worker died (os._exit, a signal, a memory limit) or broke the protocol."""


class UnloadableSubmission(WorkerProblem):
    """The submission folder could not be handed to the worker (too large, unreadable)."""


@dataclass
class CallResult:
    value: Any
    mutated: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class OutputCapture:
    """Drains a worker's stdout/stderr so it never blocks, keeping only the first bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def follow(self, fd: int) -> None:
        thread = threading.Thread(target=self._drain, args=(fd,), daemon=True, name="lhy-worker-output")
        thread.start()
        self.threads.append(thread)

    def _drain(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 1 << 16):
                with self.lock:
                    self.kept += chunk[:max(self.limit - len(self.kept), 0)]
                    self.total += len(chunk)
        except OSError:
            pass
        finally:
            os.close(fd)

    def settle(self, timeout: float = 1.0) -> None:
        """Wait (briefly) until everything written so far has been read."""
        for thread in self.threads:
            thread.join(timeout)

    def text(self) -> str:
        with self.lock:
            text = self.kept.decode("utf-8", errors="replace")
            dropped = self.total - len(self.kept)
        return text + (f"\n… {dropped} more bytes of output were dropped" if dropped else "")


class Worker:
    """A (re)startable worker process serving one submission at a time.

    ``launcher`` decides how the process starts: a fresh interpreter (default) or a
    fork of a ``ForkServer``, which confines it further. The worker loads a private
    copy of the submission folder, never the folder itself.
    """

    def __init__(self, limits: Limits | None = None, preload: tuple[str, ...] = ("numpy",),
                 *, launcher: Launcher | None = None) -> None:
        self.limits = limits or Limits()
        self.preload = preload
        self.launcher = launcher or DirectLauncher()
        self.process: WorkerProcess | None = None
        self._pending_load: tuple[str, tuple[str, ...]] | None = None
        self.modules: dict[str, dict] = {}
        self.deadline: float | None = None
        self.output = OutputCapture(self.limits.output_bytes)
        self.workdir = self.launcher.make_workdir()
        self.home = self.workdir / "home"
        self.home.mkdir()
        self.staged: Path | None = None
        self.loads = 0
        self.start()

    # -- process lifetime ------------------------------------------------------
    def start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        output_r, output_w = os.pipe()
        try:
            self.process = self.launcher.launch(self.limits, self.home, (to_child_r, from_child_w), output_w)
        except (LaunchError, OSError) as e:
            for fd in (to_child_w, from_child_r, output_r):
                os.close(fd)
            raise WorkerCrashed(f"the worker could not be started: {e}") from None
        finally:
            for fd in (to_child_r, from_child_w, output_w):
                os.close(fd)
        self.output.follow(output_r)
        self.to_child, self.from_child = to_child_w, from_child_r
        if self.preload:
            self._send({"op": "preload", "modules": list(self.preload)}, [])

    @property
    def proc(self) -> WorkerProcess | None:
        """The running worker process (None between a kill and the next start)."""
        return self.process

    def kill(self) -> None:
        """Kill the worker's whole process group (anything it spawned goes too)."""
        if self.process is None:
            return
        try:
            self.process.kill()
        except LaunchError:
            pass
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()
        if self._pending_load is not None:
            self._load(*self._pending_load)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                codec.write_all(self.to_child, codec.frame({"op": "exit"}, []))
                self.process.wait(1)
            except (OSError, LaunchError):
                pass
        self.kill()
        self.output.settle()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- requests --------------------------------------------------------------
    def load(self, path: str | Path, modules: tuple[str, ...] | list[str]) -> dict[str, dict]:
        """Load a submission's module files; returns {module: {"status", "functions"|"message"}}.

        The folder is copied into the worker's private folder first; the submission's
        time budget (``Limits.submission_seconds``) starts now.
        """
        if self.limits.submission_seconds is not None:
            self.deadline = time.monotonic() + self.limits.submission_seconds
        if self.staged is not None:
            shutil.rmtree(self.staged, ignore_errors=True)
        self.loads += 1
        self.staged = self.workdir / f"submission-{self.loads}"
        try:
            stage(Path(path), self.staged, self.limits.submission_files, self.limits.submission_bytes,
                  self.launcher.worker_group)
        except (SubmissionTooLarge, OSError) as e:
            raise UnloadableSubmission(f"the submission folder was not accepted: {e}") from None
        return self._load(str(self.staged), tuple(modules))

    def _load(self, path: str, modules: tuple[str, ...]) -> dict[str, dict]:
        self._pending_load = (path, modules)
        self._ensure_alive(restart=False)
        if self.preload:
            self._expect_ok(self._receive(self.limits.startup_seconds, callbacks={}), "preload")
            self.preload = ()
        timeout, by_budget = self._allowance(self.limits.load_seconds)
        self._send({"op": "load", "path": path, "modules": list(modules)}, [])
        header, _ = self._receive(timeout, callbacks={}, by_budget=by_budget)
        report = header.get("modules")
        if not isinstance(report, dict):
            raise WorkerCrashed("the worker sent a malformed module report")
        self.modules = {
            name: _clean_module_report(report.get(name)) for name in modules
        }
        return self.modules

    def output_text(self) -> str:
        """What the worker printed so far (truncated to ``Limits.output_bytes``)."""
        return self.output.text()

    def ping(self, value: Any = None, timeout: float = 5.0) -> Any:
        blobs: list[bytes] = []
        self._send({"op": "ping", "value": codec.encode(value, blobs)}, blobs)
        header, blobs_in = self._receive(timeout, callbacks={})
        return codec.decode(header.get("result"), blobs_in)

    def call(self, fn: str, args: tuple = (), kwargs: dict | None = None, *, timeout: float,
             grad_outputs: list[Any] | None = None, forbidden: tuple[str, ...] = (),
             arg_names: tuple[str, ...] = (), device: str = "cpu", seed: int = 0) -> CallResult:
        """Call ``module.function`` in the worker. Python callables among the arguments are
        answered here, in the grader, each time the student calls them."""
        blobs: list[bytes] = []
        callbacks, arguments = _encode_arguments(args, kwargs, blobs)
        header = {
            "op": "call", "fn": fn, "device": device, "forbidden": list(forbidden), "seed": seed,
            "arg_names": list(arg_names), **arguments,
            "grad_outputs": None if grad_outputs is None else codec.encode(list(grad_outputs), blobs),
        }
        timeout, by_budget = self._allowance(timeout)
        self._ensure_alive()
        self._send(header, blobs)
        reply, rblobs = self._receive(timeout, callbacks, by_budget=by_budget)
        result = self._decode_reply(reply, rblobs)
        result.forbidden = [str(n) for n in reply.get("forbidden", []) if str(n) in forbidden]
        return result

    def _decode_reply(self, reply: dict, rblobs: list[memoryview]) -> CallResult:
        """Turn a call/routine reply into a CallResult, or raise what went wrong."""
        if not reply.get("ok"):
            message = str(reply.get("message", "failed"))[:500]
            kind = reply.get("kind")
            if kind == "not_implemented":
                raise NotImplementedYet(message)
            if kind in ("raised", "grad"):
                raise StudentRaised(message)
            raise WorkerCrashed(message)
        try:
            value = codec.decode(reply.get("result"), rblobs)
        except codec.ProtocolError as e:
            raise WorkerCrashed(f"the worker's reply was rejected: {e}") from None
        mutated = [str(n)[:60] for n in reply.get("mutated", [])][:10]
        warned = [str(w)[:200] for w in reply.get("warnings", [])][:5]
        return CallResult(value=value, mutated=mutated, warnings=warned)

    def run_routine(self, name: str, args: tuple = (), kwargs: dict | None = None, *, timeout: float,
                    device: str = "cpu") -> Any:
        """Run the grader's routine ``lhy_grader.training.<module>:<function>`` inside the worker
        (where it may call student functions through ``sys.modules``). Python callables among
        the arguments (e.g. a progress reporter) are answered here."""
        blobs: list[bytes] = []
        callbacks, arguments = _encode_arguments(args, kwargs, blobs)
        header = {"op": "routine", "name": name, "device": device, **arguments}
        timeout, by_budget = self._allowance(timeout)
        self._ensure_alive()
        self._send(header, blobs)
        reply, rblobs = self._receive(timeout, callbacks, by_budget=by_budget)
        return self._decode_reply(reply, rblobs).value

    # -- channel ---------------------------------------------------------------
    def _allowance(self, timeout: float) -> tuple[float, bool]:
        """The wall clock a request may take, and whether the submission's budget is what binds.
        Raises SubmissionTimeout once the budget is spent."""
        if self.limits.call_seconds is not None:
            timeout = min(timeout, self.limits.call_seconds)
        if self.deadline is None:
            return timeout, False
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SubmissionTimeout(self.limits.submission_seconds)
        return (left, True) if left < timeout else (timeout, False)

    def _ensure_alive(self, restart: bool = True) -> None:
        if self.process is None or self.process.poll() is not None:
            if restart:
                self.restart()
            else:
                self.kill()
                self.start()

    def _send(self, header: dict, blobs: list[bytes]) -> None:
        try:
            codec.write_all(self.to_child, codec.frame(header, blobs))
        except (BrokenPipeError, OSError):
            raise WorkerCrashed(self._death_note()) from None

    def _receive(self, timeout: float, callbacks: dict[int, Callable],
                 by_budget: bool = False) -> tuple[dict, list[memoryview]]:
        """Wait for the reply, answering callbacks on the way; kill the worker on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ready = select.select([self.from_child], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self.kill()
                raise SubmissionTimeout(self.limits.submission_seconds) if by_budget else WorkerTimeout(timeout)
            try:
                header, blobs = codec.read_message(self.from_child)
            except (EOFError, OSError):
                note = self._death_note()
                self.kill()
                raise WorkerCrashed(note) from None
            except codec.ProtocolError as e:
                self.kill()
                raise WorkerCrashed(f"the worker broke the protocol: {e}") from None
            if header.get("op") != "callback":
                return header, blobs
            self._answer_callback(header, blobs, callbacks)

    def _answer_callback(self, header: dict, blobs: list[memoryview], callbacks: dict[int, Callable]) -> None:
        fn = callbacks.get(header.get("id"))
        out: list[bytes] = []
        try:
            if fn is None:
                raise ValueError("unknown callback")
            args = codec.decode(header.get("args"), blobs)
            kwargs = codec.decode(header.get("kwargs"), blobs)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ValueError("malformed callback arguments")
            reply = {"ok": True, "result": codec.encode(fn(*args, **kwargs), out)}
        except Exception as e:  # the student passed bad arguments to our callable
            reply, out = {"ok": False, "message": f"{type(e).__name__}: {e}"[:300]}, []
        self._send(reply, out)

    def _expect_ok(self, reply: tuple[dict, list], what: str) -> None:
        if not reply[0].get("ok"):
            raise WorkerCrashed(f"worker {what} failed: {reply[0].get('message')}")

    def _death_note(self) -> str:
        try:
            code = self.process.wait(1.0) if self.process is not None else None
        except LaunchError:
            code = None
        if code is None:
            return "the worker stopped answering"
        if code == 71:
            return "the worker's sandbox could not be set up"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return f"the worker was killed by {name}" + (" (memory or CPU limit?)" if name in ("SIGKILL", "SIGXCPU", "SIGSEGV") else "")
        return f"the worker exited with status {code} (sys.exit or os._exit in the submission?)"


def _encode_arguments(args: tuple, kwargs: dict | None, blobs: list[bytes]) -> tuple[dict[int, Callable], dict]:
    """Encode call arguments; Python callables among them become grader-side callbacks."""
    callbacks: dict[int, Callable] = {}

    def register(fn: Callable) -> int:
        callbacks[len(callbacks) + 1] = fn
        return len(callbacks)

    return callbacks, {"args": codec.encode(list(args), blobs, callbacks=register),
                       "kwargs": codec.encode(dict(kwargs or {}), blobs, callbacks=register)}


def _clean_module_report(entry: Any) -> dict:
    """Keep only well-formed fields of the worker's per-module report."""
    if not isinstance(entry, dict) or entry.get("status") not in ("ok", "missing", "error"):
        return {"status": "error", "message": "the worker sent no report for this module"}
    clean: dict[str, Any] = {"status": entry["status"]}
    if entry["status"] == "ok":
        fns = entry.get("functions", [])
        clean["functions"] = [f for f in fns if isinstance(f, str)] if isinstance(fns, list) else []
    if entry["status"] == "error":
        clean["message"] = str(entry.get("message", "failed to import"))[:400]
    return clean
