"""The fork server: a clean, warm process that forks one fresh worker per request.

Started by ``forkserver.ForkServer`` as ``python -I -m lhy_grader.worker.zygote FD``
with a clean environment. It never learns a grading seed nor loads a reference
solution, so nothing secret is in the memory its workers inherit. It imports
numpy/torch once, enters the namespaces it can (``sandbox``), and serves requests
on a SOCK_SEQPACKET socket: JSON messages, with file descriptors for ``spawn``:

    {"op": "spawn", "home": path}  + [request fd, reply fd, output fd]  -> {"pid": n}
    {"op": "wait", "pid": n, "timeout": s}                             -> {"status": code | null}
    {"op": "kill", "pid": n}                                           -> {"status": code | null}

It is a subreaper: whatever a worker spawns (daemons included) becomes its child
once orphaned, and ``kill`` removes them all, with every process of the workers'
user when it has one. It cleans up the same way and exits when the socket closes.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import socket
import sys
import time

from lhy_grader.worker import sandbox
from lhy_grader.worker.limits import Limits

MAX_MESSAGE = 1 << 16


class Zygote:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.exited: dict[int, int] = {}
        config = json.loads(sock.recv(MAX_MESSAGE))
        self.limits = Limits.from_json(config["limits"])
        policy = sandbox.Policy.from_json(config["policy"])
        self.isolation = sandbox.Isolation()
        sandbox.prctl(sandbox.PR_SET_CHILD_SUBREAPER, 1)
        needed = sandbox.python_folders() + [str(config["base"])]
        sandbox.enter_namespaces(policy, needed, self.isolation)
        for name in config.get("preload", []):
            if name in ("numpy", "torch"):
                try:
                    importlib.import_module(name)
                except ImportError:
                    continue
        sandbox.choose_user(policy, needed, self.isolation)
        gc.freeze()  # workers' garbage collections then leave the shared pages uncopied
        self.reply({"ok": True, "isolation": self.isolation.to_json()})

    def reply(self, message: dict) -> None:
        self.sock.send(json.dumps(message).encode())

    def serve(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
            except OSError:
                data, fds = b"", []
            if not data:
                self.sweep()
                os._exit(0)  # nothing to finalize: skip tearing down torch
            request = json.loads(data)
            op = request.get("op")
            if op == "spawn":
                self.reply({"pid": self.spawn(request["home"], fds)})
            elif op == "wait":
                self.reply({"status": self.wait(int(request["pid"]), float(request.get("timeout", 0)))})
            elif op == "kill":
                self.reply({"status": self.kill(int(request["pid"]))})
            else:
                self.reply({"error": f"unknown op {op!r}"})

    def spawn(self, home: str, fds: list[int]) -> int:
        request_fd, reply_fd, output_fd = fds
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                sandbox.confine_worker(home, self.limits, self.isolation, output_fd, (request_fd, reply_fd))
                from lhy_grader.worker.child import Child
                Child(request_fd, reply_fd).serve()
            except BaseException as e:  # the sandbox could not be set up: say why, on the output
                code = 71
                try:
                    os.write(2, f"worker setup failed: {type(e).__name__}: {e}\n".encode())
                except OSError:
                    pass
            os._exit(code)
        for fd in fds:
            os.close(fd)
        return pid

    def poll(self, pid: int) -> int | None:
        if pid not in self.exited:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return self.exited.get(pid, -signal.SIGKILL)
            if done:
                self.exited[pid] = os.waitstatus_to_exitcode(status)
        return self.exited.get(pid)

    def wait(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while (status := self.poll(pid)) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return status

    def kill(self, pid: int) -> int | None:
        status = self.poll(pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.sweep()
        if status is None:
            status = self.poll(pid)
        self.exited.pop(pid, None)
        return status

    def sweep(self) -> None:
        """Kill every descendant (orphans are re-parented here) and every process of the
        workers' user, until none is left."""
        me, uid = os.getpid(), self.isolation.uid
        for _ in range(1000):
            self.reap()  # a worker that exited is a zombie of its user until reaped
            table = sandbox.processes()
            children = [pid for pid, parent, _ in table if parent == me]
            theirs = uid is not None and any(owner == uid for _, _, owner in table)
            if not children and not theirs:
                return
            for child in children:
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if theirs:
                sandbox.kill_user(uid)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exited[pid] = os.waitstatus_to_exitcode(status)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when workers stop
    sock = socket.socket(fileno=int(sys.argv[1]))
    # If the grader dies (even while this process is still starting), clean up and go.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:
        os._exit(0)
    zygote = Zygote(sock)

    def stop(*_: object) -> None:
        zygote.sweep()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    zygote.serve()


if __name__ == "__main__":
    main()
