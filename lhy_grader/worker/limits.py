"""Resource limits and the clean environment of a worker process."""

from __future__ import annotations

import os
import resource
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Per-worker limits. CPU and memory are generous: torch alone maps a lot of memory."""

    cpu_seconds: int = 600            # RLIMIT_CPU over the worker's life (SIGXCPU first)
    memory_bytes: int = 8 << 30       # RLIMIT_AS
    file_bytes: int = 64 << 20        # RLIMIT_FSIZE: what the worker may write to one file
    open_files: int = 256             # RLIMIT_NOFILE
    processes: int = 64               # RLIMIT_NPROC (threads count); binds only under a dedicated user
    output_bytes: int = 64 << 10      # stdout+stderr kept from the worker (the rest is counted, dropped)
    home_bytes: int = 64 << 20        # size of the private tmpfs home, where namespaces are available
    startup_seconds: float = 60.0     # wall clock to import numpy/torch
    load_seconds: float = 30.0        # wall clock to import the submission's modules
    call_seconds: float | None = None         # cap on every call's wall clock (None: the exercise's own)
    submission_seconds: float | None = None   # wall clock for all calls of one submission (None: no cap)
    submission_bytes: int = 64 << 20  # a submission folder larger than this is not loaded
    submission_files: int = 2000      # nor one with more files than this
    threads: int = 1                  # BLAS/OpenMP threads for function checks

    def environment(self, home: Path) -> dict[str, str]:
        """A clean environment: nothing of the grader's (no secrets, no seed) reaches the worker."""
        n = str(self.threads)
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(home),
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": n,
            "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n,
        }

    def apply_in_child(self, *, limit_processes: bool = False) -> None:
        """Runs in the child before it runs anything of the student's: set the rlimits.

        ``limit_processes`` only where the child runs under a user of its own: RLIMIT_NPROC
        counts every process of the real user, and root is exempt from it.
        """
        def cap(which: int, value: int, soft: int | None = None) -> None:
            hard_now = resource.getrlimit(which)[1]
            hard = value if hard_now == resource.RLIM_INFINITY else min(value, hard_now)
            resource.setrlimit(which, (min(soft if soft is not None else hard, hard), hard))

        cap(resource.RLIMIT_CORE, 0)
        cap(resource.RLIMIT_CPU, self.cpu_seconds + 5, self.cpu_seconds)
        cap(resource.RLIMIT_AS, self.memory_bytes)
        cap(resource.RLIMIT_FSIZE, self.file_bytes)
        cap(resource.RLIMIT_NOFILE, self.open_files)
        if limit_processes:
            cap(resource.RLIMIT_NPROC, self.processes)
        os.umask(0o077)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Limits":
        """Limits from ``to_json``'s dict (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
