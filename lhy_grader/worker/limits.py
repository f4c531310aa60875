"""Resource limits and the clean environment of a worker process."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Per-worker limits. CPU and memory are generous: torch alone maps a lot of memory."""

    cpu_seconds: int = 600            # RLIMIT_CPU over the worker's life (SIGXCPU first)
    memory_bytes: int = 8 << 30       # RLIMIT_AS
    file_bytes: int = 64 << 20        # RLIMIT_FSIZE: what the worker may write to one file
    open_files: int = 256             # RLIMIT_NOFILE
    startup_seconds: float = 60.0     # wall clock to import numpy/torch
    load_seconds: float = 30.0        # wall clock to import the submission's modules
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

    def apply_in_child(self) -> None:
        """Runs in the forked child before exec: set the rlimits."""
        def cap(which: int, value: int, soft: int | None = None) -> None:
            hard_now = resource.getrlimit(which)[1]
            hard = value if hard_now == resource.RLIM_INFINITY else min(value, hard_now)
            resource.setrlimit(which, (min(soft if soft is not None else hard, hard), hard))

        cap(resource.RLIMIT_CORE, 0)
        cap(resource.RLIMIT_CPU, self.cpu_seconds + 5, self.cpu_seconds)
        cap(resource.RLIMIT_AS, self.memory_bytes)
        cap(resource.RLIMIT_FSIZE, self.file_bytes)
        cap(resource.RLIMIT_NOFILE, self.open_files)
        os.umask(0o077)
