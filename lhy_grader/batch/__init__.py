"""Instructor batch grading: ``lhy-grade grade SUBMISSIONS --out DIR``.

``run.grade_folder`` coordinates; ``submissions`` finds and unpacks the students'
work; ``executors`` runs trusted grading processes (local slots or Dask), each
forking one fresh sandboxed worker per submission; ``store`` is the durable
gradebook; ``reports`` writes grades.csv, feedback and the class summary.
"""

from lhy_grader.batch.run import BatchOptions, BatchReport, grade_folder

__all__ = ["BatchOptions", "BatchReport", "grade_folder"]
