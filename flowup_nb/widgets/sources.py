"""Which videos the form offers: the simulator's samples, then recent sources from a ledger.

Pure reading: nothing here opens (and so creates) a ledger file; the ledger given, or
the client's own, answers, or nothing is offered from it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flowup_nb.api import policy

__all__ = ["MAX_SOURCE_OPTIONS", "known_video_ids", "talks_to_simulator"]

log = logging.getLogger("flowup_nb.widgets")

MAX_SOURCE_OPTIONS = 40
_RECENT_DAYS = 30


def talks_to_simulator(client: object) -> bool:
    """The embedded simulator (connect() marks it), or any server on this machine."""
    if getattr(client, "simulator", None) is not None:
        return True
    host = urlsplit(str(getattr(client, "base_url", ""))).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def known_video_ids(client: object, ledger: object) -> tuple[str, ...]:
    """Ids to offer, samples first, at most :data:`MAX_SOURCE_OPTIONS`."""
    ids: list[str] = []
    simulator = getattr(client, "simulator", None)
    if simulator is not None:
        ids.extend(simulator.sample_ids())
    live = not talks_to_simulator(client)
    for video_id in _ledger_ids(ledger):
        email = policy.decode_account(video_id)
        # Simulated accounts live on example.com (reserved: never a real account).
        if email and not (live and email.endswith("@example.com")):
            ids.append(video_id)
    return tuple(dict.fromkeys(ids))[:MAX_SOURCE_OPTIONS]


def _ledger_ids(ledger: object) -> list[str]:
    recent = getattr(ledger, "recent_video_ids", None)
    if not callable(recent):
        return []  # no ledger, or an observer that keeps nothing to read
    try:
        return [str(i) for i in recent(days=_RECENT_DAYS, limit=MAX_SOURCE_OPTIONS)]
    except Exception as exc:  # an unreadable ledger must not break the form
        log.warning("UpscaleForm: could not read video ids from the ledger: %s", exc)
        return []
