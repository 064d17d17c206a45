"""The notebook layer: the upscale form, the ledger dashboard, and their helpers.

Depends on ``flowup_nb.api`` and ``flowup_nb.ledger``; nothing below imports it.
ipywidgets loads only when a widget is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LedgerView", "UpscaleForm"]

_LAZY = {
    "UpscaleForm": "flowup_nb.widgets.form",
    "LedgerView": "flowup_nb.widgets.ledger_view",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowup_nb.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
