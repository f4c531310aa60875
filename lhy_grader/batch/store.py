"""The gradebook: one SQLite database (WAL mode) under the output folder.

A student's result is committed the moment it arrives, so killing the grader at
any point (SIGKILL included) loses at most the students still being graded. The
instructor seed is drawn once per gradebook and kept here (the folder is readable
by its owner only, and hidden from workers).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    student   TEXT PRIMARY KEY,
    digest    TEXT NOT NULL,   -- content hash of the submission that was graded
    config    TEXT NOT NULL,   -- what it was graded with (exercises, seed, limits)
    score     REAL NOT NULL,
    max_score REAL NOT NULL,
    result    TEXT NOT NULL,   -- the `check --json` document
    output    TEXT NOT NULL,   -- what the student's code printed (truncated)
    seconds   REAL NOT NULL,   -- wall clock of the whole submission
    graded_at TEXT NOT NULL
);
"""


@dataclass
class Row:
    student: str
    digest: str
    config: str
    result: dict
    output: str
    seconds: float


class Gradebook:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def seed(self) -> int:
        """The instructor seed of this gradebook, drawn at random on first use."""
        if self.meta("seed") is None:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('seed', ?)", (str(secrets.randbits(62)),))
        return int(self.meta("seed"))

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def is_done(self, student: str, digest: str, config: str) -> bool:
        row = self.db.execute("SELECT digest, config FROM results WHERE student = ?", (student,)).fetchone()
        return row is not None and row == (digest, config)

    def record(self, student: str, digest: str, config: str, result: dict, output: str, seconds: float) -> None:
        """Store one student's result durably (replacing an older one)."""
        self.db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (student, digest, config, float(result["score"]), float(result["max_score"]),
             json.dumps(result), output, float(seconds), time.strftime("%Y-%m-%dT%H:%M:%S%z")))

    def rows(self) -> dict[str, Row]:
        return {student: Row(student, digest, config, json.loads(result), output, seconds)
                for student, digest, config, result, output, seconds in self.db.execute(
                    "SELECT student, digest, config, result, output, seconds FROM results ORDER BY student")}
