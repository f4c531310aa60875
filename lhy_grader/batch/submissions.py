"""Find the students of a SUBMISSIONS folder, fingerprint their work, unpack zips safely.

One sub-folder per student (the folder name is the student id), or a ``<id>.zip``
of the same content. Hidden entries (``.git``, ``.DS_Store``) and ``__MACOSX`` are
not students.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lhy_grader.worker.staging import SubmissionTooLarge, submission_files

MAX_FILES = 2000            # entries of a zip; Python files of a folder
MAX_BYTES = 64 << 20        # Python source of one submission
MAX_ZIP_BYTES = 256 << 20   # a zip as handed in (notebooks and data included)


class UnsafeSubmission(Exception):
    """A submission that is refused as a whole (unsafe or too large zip, too many files)."""


@dataclass
class Submission:
    student: str
    source: Path              # the student's folder or zip file
    digest: str = ""          # content hash: a changed submission is graded again
    problem: str | None = None  # why it is refused, if it is

    @property
    def is_zip(self) -> bool:
        return self.source.suffix.lower() == ".zip" and self.source.is_file()


def discover(root: Path) -> list[Submission]:
    """The students of ``root``, sorted by id, each with its content hash (or its problem)."""
    found: dict[str, Submission] = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name == "__MACOSX" or entry.is_symlink():
            continue
        if entry.is_dir():
            student = entry.name
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            student = entry.name[:-4]
        else:
            continue
        if student in found:
            found[student].problem = f"both a folder and a zip named {student!r}: hand in one"
            continue
        found[student] = Submission(student, entry)
    students = [found[k] for k in sorted(found)]
    for submission in students:
        if submission.problem is None:
            try:
                submission.digest = fingerprint(submission)
            except (UnsafeSubmission, OSError) as e:
                submission.problem = str(e)
    return students


def fingerprint(submission: Submission) -> str:
    """SHA-256 of the submission's content (the zip's bytes, or the folder's Python files and
    their names: what a worker gets)."""
    h = hashlib.sha256()
    if submission.is_zip:
        size = submission.source.stat().st_size
        if size > MAX_ZIP_BYTES:
            raise UnsafeSubmission(f"the zip is larger than {MAX_ZIP_BYTES >> 20} MiB")
        h.update(submission.source.read_bytes())
        return "zip:" + h.hexdigest()
    try:
        files = submission_files(submission.source, MAX_FILES, MAX_BYTES)
    except SubmissionTooLarge as e:
        raise UnsafeSubmission(f"the folder holds {e}") from None
    for relative, path in files:
        h.update(relative.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return "dir:" + h.hexdigest()


def unpack(zip_path: Path, target: Path) -> Path:
    """Extract the Python files of ``zip_path`` into the new folder ``target``; returns the
    folder holding them.

    Refuses (any entry) absolute paths, ``..`` components, links and special files, more
    than ``MAX_FILES`` entries, and Python files of more than ``MAX_BYTES`` once
    uncompressed (counted while reading, not trusted from the headers). A zip holding
    one top folder is entered.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, mode=0o700)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_FILES:
                raise UnsafeSubmission(f"the zip holds more than {MAX_FILES} entries")
            written = 0
            for member in members:
                relative = _safe_member_path(member)
                if relative is None:
                    continue
                destination = target.joinpath(*relative.parts)
                if member.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                if relative.suffix != ".py":
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(destination, "xb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > MAX_BYTES:
                            raise UnsafeSubmission(f"the zip unpacks to more than {MAX_BYTES >> 20} MiB")
                        dst.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as e:
        raise UnsafeSubmission(f"the zip could not be read: {e}") from None
    except FileExistsError as e:
        raise UnsafeSubmission(f"the zip holds {Path(e.filename).name!r} twice") from None
    entries = [p for p in target.iterdir() if p.name != "__MACOSX" and not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return target


def _safe_member_path(member: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's path inside the target, or None for junk; raises for anything unsafe."""
    name = member.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise UnsafeSubmission(f"the zip entry {member.filename!r} points outside the folder")
    kind = stat.S_IFMT(member.external_attr >> 16)  # 0 when the zip tool recorded no Unix type
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeSubmission(f"the zip entry {member.filename!r} is a link or a special file")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or parts[0] == "__MACOSX" or any(p.startswith("._") for p in parts):
        return None
    return PurePosixPath(*parts)
