"""A local grading process: ``python -I -m lhy_grader.batch.slot RESULT_FD``.

Reads the setup (one JSON line) and then one job per line on stdin,
``{"student": id, "path": folder}``, and writes one JSON line per outcome to
RESULT_FD, after a first line ``{"isolation": ...}``. It is trusted (it holds the
seed and the references); student code runs only in the workers it forks.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lhy_grader.batch.grading import Grader
from lhy_grader.worker import sandbox


def main() -> None:
    sandbox.prctl(sandbox.PR_SET_DUMPABLE, 0)  # a worker under our own user cannot read our memory
    results = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    grader = Grader(json.loads(sys.stdin.readline()))
    try:
        results.write(json.dumps({"isolation": grader.isolation()}) + "\n")
        for line in sys.stdin:
            job = json.loads(line)
            results.write(json.dumps(grader.grade(job["student"], Path(job["path"]))) + "\n")
    finally:
        grader.close()
        results.close()
    os._exit(0)  # nothing left to finalize: skip tearing down numpy/torch


if __name__ == "__main__":
    main()
