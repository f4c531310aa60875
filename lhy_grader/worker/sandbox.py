"""Linux confinement for workers started by the fork server (``zygote``).

What is applied depends on what the machine allows, detected at run time:

- always: a new session (killed as a whole), rlimits, a clean environment, an
  empty private working directory, the student's files copied (``staging``),
  PR_SET_NO_NEW_PRIVS, death of the worker when its fork server dies, and a
  subreaper fork server that kills every descendant after each submission;
- as root: a network namespace (no network), a mount namespace in which the
  reference solutions, the submissions and the grader's output are covered by
  empty read-only file systems and the worker's home is a small private tmpfs,
  and a user of its own per fork server (uid ``UID_BASE + fork-server pid``) so
  RLIMIT_NPROC binds, other workers' files are unreadable, and every process of
  that user can be killed at the end.

``Isolation`` records what was achieved, for the grader's log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd
import signal
import stat
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38

#: Workers of the fork server with pid P run as uid/gid UID_BASE + P (no such user exists).
UID_BASE = 1_900_000_000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


@dataclass(frozen=True)
class Policy:
    """What the fork server is asked to isolate (``Isolation`` says what it got)."""

    hide: tuple[str, ...] = ()        # folders covered by an empty read-only file system
    own_user: bool = True             # as root: run workers under a user of their own
    no_network: bool = True           # as root: a network namespace without interfaces
    uid_base: int = UID_BASE

    def to_json(self) -> dict:
        return {**asdict(self), "hide": list(self.hide)}

    @classmethod
    def from_json(cls, data: dict) -> "Policy":
        return cls(hide=tuple(data.get("hide", ())), own_user=bool(data.get("own_user", True)),
                   no_network=bool(data.get("no_network", True)), uid_base=int(data.get("uid_base", UID_BASE)))


@dataclass
class Isolation:
    """What a fork server achieved on this machine."""

    uid: int | None = None
    no_network: bool = False
    mount_namespace: bool = False
    hidden: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Isolation":
        return cls(uid=data.get("uid") if type(data.get("uid")) is int else None,
                   no_network=data.get("no_network") is True, mount_namespace=data.get("mount_namespace") is True,
                   hidden=[str(p) for p in data.get("hidden", [])], notes=[str(n) for n in data.get("notes", [])])

    def summary(self) -> str:
        """One line for the log: what a worker can and cannot do here."""
        parts = [f"workers run as a user of their own (uid {UID_BASE}+fork server pid; process limit binds)"
                 if self.uid is not None
                 else "workers run as the grader's own user (no process limit for root; files readable as the grader's)",
                 "no network" if self.no_network else "NETWORK AVAILABLE to workers",
                 f"hidden from workers: {', '.join(self.hidden)}" if self.hidden
                 else "nothing hidden by mounts (file permissions only)"]
        return "; ".join(parts) + "".join(f"; note: {n}" for n in self.notes)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, options: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), options.encode() if options else None), f"mount {target}")


def cover(path: str) -> None:
    """Hide ``path`` behind an empty, read-only file system nobody can enter."""
    mount("lhy-hidden", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")


# ---------------------------------------------------------------------------
# Fork-server side (root): namespaces shared by all of its workers.

def enter_namespaces(policy: Policy, needed: list[str], isolation: Isolation) -> None:
    """As root: leave the network, and hide ``policy.hide`` in a private mount namespace.

    ``needed`` folders (the Python installation, the worker's own package, the
    sandbox folders) stay reachable for an unprivileged user: an ancestor that only
    root may enter (e.g. ``/root``) is replaced by a stand-in exposing just them.
    """
    if os.geteuid() != 0:
        isolation.notes.append("not root: no namespaces, no user of its own (see docs/batch-grading.md)")
        return
    if policy.no_network:
        try:
            unshare(CLONE_NEWNET)
            isolation.no_network = True
        except OSError as e:
            isolation.notes.append(f"no network namespace ({e.strerror})")
    try:
        unshare(CLONE_NEWNS)
        mount("none", "/", None, MS_REC | MS_PRIVATE)
        isolation.mount_namespace = True
    except OSError as e:
        isolation.notes.append(f"no mount namespace ({e.strerror}): relying on file permissions")
        return
    _expose(needed, isolation)
    for path in policy.hide:
        if any(Path(n).is_relative_to(path) for n in needed):
            isolation.notes.append(f"{path} holds files the worker needs: not hidden")
        elif os.path.isdir(path):
            try:
                cover(path)
                isolation.hidden.append(path)
            except OSError as e:
                isolation.notes.append(f"could not hide {path} ({e.strerror})")


def _closed_ancestor(path: str) -> tuple[str, str] | None:
    """The first ancestor of ``path`` that others may not enter, and its child on the way."""
    parts = Path(path).resolve().parts
    for i in range(1, len(parts)):
        ancestor = str(Path(*parts[:i]))
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor, parts[i]
    return None


def _expose(needed: list[str], isolation: Isolation) -> None:
    closed: dict[str, set[str]] = {}
    for path in needed:
        hit = _closed_ancestor(path) if os.path.exists(path) else None
        if hit:
            closed.setdefault(hit[0], set()).add(hit[1])
    for ancestor, children in sorted(closed.items(), key=lambda kv: -len(kv[0])):
        handles = {c: os.open(os.path.join(ancestor, c), os.O_PATH) for c in children}
        try:
            mount("lhy-standin", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0711")
            for child, fd in handles.items():
                os.mkdir(os.path.join(ancestor, child), 0o711)
                mount(f"/proc/self/fd/{fd}", os.path.join(ancestor, child), None, MS_BIND | MS_REC)
            isolation.notes.append(f"{ancestor} replaced by a stand-in exposing only {', '.join(sorted(children))}")
        except OSError as e:
            isolation.notes.append(f"could not expose {ancestor}/{{{','.join(children)}}} ({e.strerror})")
        finally:
            for fd in handles.values():
                os.close(fd)


def choose_user(policy: Policy, needed: list[str], isolation: Isolation) -> None:
    """As root: pick this fork server's own uid if an unprivileged user can run Python here
    (list every ``needed`` folder; enter those that may not be listed, mode 0711)."""
    if os.geteuid() != 0 or not policy.own_user:
        return
    uid = policy.uid_base + os.getpid()
    try:
        pwd.getpwuid(uid)
        isolation.notes.append(f"uid {uid} belongs to a real user: not used")
        return
    except KeyError:
        pass
    problem = _probe_as(uid, needed)
    if problem:
        isolation.notes.append(f"workers stay root: an unprivileged user cannot {problem}")
        return
    for _ in range(100):  # an earlier fork server with the same pid may have left processes
        if not any(owner == uid for _, _, owner in processes()):
            isolation.uid = uid
            return
        kill_user(uid)
        time.sleep(0.01)
    isolation.notes.append(f"uid {uid} has processes that cannot be killed: not used")


def _probe_as(uid: int, needed: list[str]) -> str | None:
    """Fork a child that becomes ``uid`` and lists every needed folder; None if it could."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        message = b""
        try:
            drop_privileges(uid)
            for path in needed:
                if os.path.isdir(path):
                    os.stat(os.path.join(path, "."))
                    if os.stat(path).st_mode & stat.S_IROTH:
                        os.listdir(path)
        except OSError as e:
            message = f"read {e.filename or ''} ({e.strerror})".encode()[:300]
        os.write(write_fd, message)
        os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 400).decode(errors="replace")
    os.close(read_fd)
    os.waitpid(pid, 0)
    return answer or None


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def kill_user(uid: int) -> None:
    """Kill every process of ``uid`` at once: a child that becomes that user sends
    kill(-1), which reaches exactly the processes of that user."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def processes() -> list[tuple[int, int, int]]:
    """``(pid, parent pid, real uid)`` of every process visible in /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                status = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            found.append((int(name), int(status[b"PPid"]), int(status[b"Uid"].split()[0])))
        except (OSError, KeyError, ValueError):
            continue
    return found


# ---------------------------------------------------------------------------
# Worker side: runs in the freshly forked child, before any student code.

def confine_worker(home: str, limits, isolation: Isolation, output_fd: int, keep_fds: tuple[int, ...]) -> None:
    """Turn the forked child into a confined worker (still root on entry, if the fork server is)."""
    os.setsid()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    uid = isolation.uid
    if isolation.mount_namespace:
        unshare(CLONE_NEWNS)
        owner = f",uid={uid},gid={uid}" if uid is not None else ""
        mount("lhy-home", home, "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.home_bytes},mode=0700{owner}")
    elif uid is not None:
        os.chown(home, uid, uid)
    for fd in (1, 2):
        os.dup2(output_fd, fd)
    close_other_fds(keep_fds)  # nothing of the fork server's (its control socket) leaks in
    limits.apply_in_child(limit_processes=uid is not None)
    if uid is not None:
        drop_privileges(uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.chdir(home)
    os.environ.clear()
    os.environ.update(limits.environment(Path(home)))
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")


def close_other_fds(keep: tuple[int, ...]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def python_folders() -> list[str]:
    """Folders an unprivileged worker must be able to read to import what it needs."""
    import lhy_grader
    folders = [p for p in sys.path if p and os.path.isdir(p)]
    folders += [sys.prefix, sys.exec_prefix, str(Path(lhy_grader.__file__).resolve().parent)]
    return list(dict.fromkeys(str(Path(f).resolve()) for f in folders))
