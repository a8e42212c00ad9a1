"""Moved: the cascade is its own layer now, alprd.cascade (above the nets and the backends).

This name stays for callers outside alprd/ during the transition (pipelines, benchmarks);
it resolves lazily so that importing alprd.model never pulls in the layer above it.
"""
from __future__ import annotations


def __getattr__(name: str):
    if name == "Recognizer":
        import importlib

        return importlib.import_module("alprd.cascade").Recognizer
    raise AttributeError(name)
