"""Rendering a graded submission: the JSON document and the terminal report."""
