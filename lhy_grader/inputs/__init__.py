"""Trusted input generation: hypothesis strategies and the grader-side callables
(gradient functions, decoding models) that student code calls back into."""
