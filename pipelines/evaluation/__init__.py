"""Evaluation of the serving path: metrics, the set registry, the report (CLI: pipelines.evaluate)."""
