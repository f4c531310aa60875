"""Copy a submission folder into the worker's private folder, safely and within bounds.

The worker never loads a student's files where they were handed in: the folder may
sit next to other students' folders and the grader's output, all hidden from it.
Only Python source files are copied (a data set next to them neither slows
grading nor makes the folder too large), and only regular ones: symbolic links
(which could point at the reference solutions), hidden entries and byte-code
caches (which could disagree with the source the grader inspects) stay behind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SKIPPED_DIRS = ("__pycache__", "__MACOSX")


class SubmissionTooLarge(Exception):
    """The folder holds more files or bytes than a worker accepts."""


def submission_files(folder: Path, max_files: int, max_bytes: int) -> list[tuple[str, Path]]:
    """``(relative path, path)`` of the ``.py`` files of ``folder`` that a worker gets, sorted.

    Never follows symbolic links. Raises ``SubmissionTooLarge`` past the bounds.
    """
    found: list[tuple[str, Path]] = []
    total = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(".py"):
                continue
            path = Path(root) / name
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            total += info.st_size
            found.append((path.relative_to(folder).as_posix(), path))
            if len(found) > max_files:
                raise SubmissionTooLarge(f"more than {max_files} files")
            if total > max_bytes:
                raise SubmissionTooLarge(f"more than {max_bytes >> 20} MiB")
    return found


def stage(folder: Path, target: Path, max_files: int, max_bytes: int, group: int | None = None) -> None:
    """Copy ``folder``'s files into the new folder ``target``, read-only for the worker.

    With ``group`` (the worker's own group, when it runs as a user of its own) the
    copy belongs to root and that group, so no other worker can read it.
    """
    mode_dir, mode_file = (0o750, 0o640) if group is not None else (0o700, 0o600)
    target.mkdir(mode=mode_dir)
    _own(target, group, mode_dir)
    copied = 0
    for relative, source in submission_files(folder, max_files, max_bytes):
        destination = target / relative
        for parent in reversed(destination.relative_to(target).parents[:-1]):
            if not (target / parent).exists():
                (target / parent).mkdir(mode=mode_dir)
                _own(target / parent, group, mode_dir)
        flags = os.O_RDONLY | os.O_NOFOLLOW
        with open(os.open(source, flags), "rb") as src, open(destination, "xb") as dst:
            data = src.read(max_bytes - copied + 1)  # the file may have grown since it was listed
            copied += len(data)
            if copied > max_bytes:
                raise SubmissionTooLarge(f"more than {max_bytes >> 20} MiB")
            dst.write(data)
        _own(destination, group, mode_file)


def _own(path: Path, group: int | None, mode: int) -> None:
    if group is not None:
        os.chown(path, 0, group)
    os.chmod(path, mode)
