"""Who and where: the ``user`` and ``host`` stamped on every row a process records.

A team ledger collects many people's kernels; these two columns answer "who spent
what" (``summary(by="user")``) and "from which machine".
"""

from __future__ import annotations

import getpass
import os
import socket

__all__ = ["USER_ENV_VAR", "current_host", "current_user"]

USER_ENV_VAR = "FLOWUP_USER"


def current_user() -> str:
    """``$FLOWUP_USER`` when set (e.g. a JupyterHub where every kernel runs as one
    account), else the login name."""
    chosen = os.environ.get(USER_ENV_VAR, "").strip()
    if chosen:
        return chosen
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no $USER
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def current_host() -> str:
    return socket.gethostname() or "unknown"
