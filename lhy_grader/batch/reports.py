"""What grading writes under DIR: grades.csv, per-student feedback, the class summary.

Every file is written to a temporary name and renamed into place, so a reader (or
an interrupted run) never sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable

from lhy_grader.batch.store import Row

SHOWN_OUTPUT = 4000  # characters of a student's printed output shown on the feedback page
STATUS_WORDS = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out",
                "not_implemented": "not implemented yet", "missing": "missing"}


def write_atomically(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` by write-then-rename (nothing is done if it already holds it)."""
    data = data.encode() if isinstance(data, str) else data
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def grades_csv(rows: Iterable[Row], exercise_names: list[str]) -> str:
    """``student,total,max_total,<exercise...>``, one row per student in id order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "total", "max_total", *exercise_names])
    for row in sorted(rows, key=lambda r: r.student):
        scores = {e["name"]: e["score"] for e in row.result["exercises"]}
        writer.writerow([row.student, _number(row.result["score"]), _number(row.result["max_score"]),
                         *(_number(scores[name]) if name in scores else "" for name in exercise_names)])
    return out.getvalue()


def _number(value: float) -> str:
    return f"{float(value):g}"


def feedback_markdown(row: Row) -> str:
    """The page a student reads: score, then every exercise and each failed check's message and hint."""
    result = row.result
    lines = [f"# Feedback for {row.student}", "",
             f"**Score: {_number(result['score'])} / {_number(result['max_score'])}**", "",
             "| exercise | score | status |", "| --- | --- | --- |"]
    for ex in result["exercises"]:
        lines.append(f"| `{_cell(ex['name'])}` | {_number(ex['score'])} / {_number(ex['max_score'])} "
                     f"| {STATUS_WORDS.get(ex['status'], ex['status'])} |")
    for ex in result["exercises"]:
        failed = [c for c in ex["checks"] if not c["passed"]]
        if not failed:
            continue
        lines += ["", f"## `{ex['name']}`: {_number(ex['score'])} / {_number(ex['max_score'])}, "
                      f"{STATUS_WORDS.get(ex['status'], ex['status'])}"]
        if len({c["message"] for c in failed}) == 1 and not any(c.get("hint") for c in failed) and len(failed) > 1:
            lines += ["", f"Every check: {failed[0]['message']}"]  # e.g. the file is missing
            continue
        for check in failed:
            lines += ["", f"### ✗ {check['name']}", "", *_fenced(check["message"].strip() or "(no message)")]
            if check.get("hint"):
                lines += ["", f"**Hint:** {check['hint']}"]
    if row.output.strip():
        shown = row.output[:SHOWN_OUTPUT].rstrip() + ("\n… (output truncated)" if len(row.output) > SHOWN_OUTPUT else "")
        lines += ["", "## What your code printed", "", *_fenced(shown)]
    return "\n".join(lines) + "\n"


def _fenced(text: str) -> list[str]:
    """A Markdown code block that the text (student-controlled) cannot close early."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [fence + "text", text, fence]


def feedback_files(out: Path, row: Row) -> None:
    """``feedback/<student>.json`` (the `check --json` schema) and ``feedback/<student>.md``."""
    write_atomically(out / "feedback" / f"{row.student}.json", json.dumps(row.result, indent=2) + "\n")
    write_atomically(out / "feedback" / f"{row.student}.md", feedback_markdown(row))


NOT_ATTEMPTED = ("missing", "not_implemented")


def failure_rates(rows: list[Row]) -> tuple[dict[str, tuple[float, float]], list[tuple[str, str, float, str]]]:
    """Per exercise: the share of students below full marks and the share who did not attempt
    it (missing, not implemented). Per check, among the students who attempted its exercise:
    the share who failed it and the most common hint, most failed first."""
    n = len(rows) or 1
    below: Counter = Counter()
    skipped: Counter = Counter()
    attempted: Counter = Counter()
    failed: Counter = Counter()
    hints: dict[tuple[str, str], Counter] = {}
    order: dict[str, int] = {}
    for row in rows:
        for ex in row.result["exercises"]:
            order.setdefault(ex["name"], len(order))
            below[ex["name"]] += ex["score"] < ex["max_score"]
            if ex["status"] in NOT_ATTEMPTED:
                skipped[ex["name"]] += 1
                continue
            attempted[ex["name"]] += 1
            for check in ex["checks"]:
                if not check["passed"]:
                    failed[ex["name"], check["name"]] += 1
                    if check.get("hint"):
                        hints.setdefault((ex["name"], check["name"]), Counter())[check["hint"]] += 1
    per_exercise = {name: (below[name] / n, skipped[name] / n) for name in sorted(order, key=order.get)}
    per_check = sorted(((ex, check, count / attempted[ex],
                         hints[ex, check].most_common(1)[0][0] if (ex, check) in hints else "")
                        for (ex, check), count in failed.items()), key=lambda t: (-t[2], order[t[0]], t[1]))
    return per_exercise, per_check


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def summary_markdown(rows: list[Row], isolation: str) -> str:
    """The class summary: score distribution and the most common mistakes."""
    totals = [r.result["score"] for r in rows]
    maximum = max((r.result["max_score"] for r in rows), default=0.0)
    per_exercise, per_check = failure_rates(rows)
    lines = ["# Class summary", "", f"{len(rows)} students graded."]
    if totals:
        lines += ["", f"Score out of {_number(maximum)}: mean {statistics.mean(totals):.2f}, "
                      f"median {statistics.median(totals):g}, min {min(totals):g}, max {max(totals):g}; "
                      f"{sum(t == maximum for t in totals)} at full marks.", "",
                  "| score range | students |", "| --- | --- |"]
        for low, high, count in _histogram(totals, maximum):
            lines.append(f"| {low:g} – {high:g} | {count} |")
    lines += ["", "## Exercises", "", "| exercise | below full marks | not attempted |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {rate:.0%} | {skipped:.0%} |" for name, (rate, skipped) in per_exercise.items()]
    lines += ["", "## Checks failed most often (the most common mistakes)", "",
              "Among the students who attempted the exercise.", "",
              "| exercise | check | failed by | most common hint |", "| --- | --- | --- | --- |"]
    lines += [f"| `{ex}` | {_cell(check)} | {rate:.0%} | {_cell(hint)} |" for ex, check, rate, hint in per_check[:40]]
    lines += ["", "## Sandbox", "", isolation or "(no grading process has run for this gradebook yet)"]
    return "\n".join(lines) + "\n"


def _histogram(totals: list[float], maximum: float, bins: int = 10) -> list[tuple[float, float, int]]:
    width = maximum / bins if maximum > 0 else 1.0
    counts = [0] * bins
    for t in totals:
        counts[min(int(t / width), bins - 1) if width else 0] += 1
    return [(round(i * width, 2), round((i + 1) * width, 2), c) for i, c in enumerate(counts)]


def summary_plot(rows: list[Row], path: Path) -> bool:
    """A PNG: score histogram and the most failed checks. False if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    totals = [r.result["score"] for r in rows]
    maximum = max((r.result["max_score"] for r in rows), default=1.0)
    _, per_check = failure_rates(rows)
    top = per_check[:15][::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1, 1.6]})
    left.hist(totals, bins=20, range=(0, maximum or 1), color="#4c72b0", edgecolor="white")
    left.set(title=f"Scores ({len(rows)} students)", xlabel=f"score out of {maximum:g}", ylabel="students")
    labels = [_shorten(f"{ex.split('.', 1)[-1]}: {check}", 60) for ex, check, _, _ in top]
    right.barh(range(len(top)), [rate * 100 for _, _, rate, _ in top], color="#dd8452")
    right.set_yticks(range(len(top)), labels, fontsize=8)
    right.set(title="Checks failed most often", xlabel="% of the students who attempted the exercise",
              xlim=(0, 100))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomically(path, buffer.getvalue())
    return True


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
