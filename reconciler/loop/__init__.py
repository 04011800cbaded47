"""The periodic reconcile loop on Celery (`celery -A reconciler.loop worker -B`, or `nbjobs loop`).

`app` is built on first use, from the settings, so importing a module of this package needs no broker.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from reconciler.loop.app import make_app

        globals()["app"] = globals()["celery"] = built = make_app()
        return built
    raise AttributeError(name)
