"""``connect()``, the composition root: a client for the real API or, without a token, the
embedded simulator, with the default ledger attached."""

from __future__ import annotations

import os
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Literal

from flowup_nb.api._base import SYNC_READ_TIMEOUT
from flowup_nb.api.client import FlowClient
from flowup_nb.api.errors import InputError
from flowup_nb.api.exchange import LedgerLike
from flowup_nb.api.policy import PollSchedule, RetryPolicy

if TYPE_CHECKING:
    from flowup_nb.sim.handle import SimHandle

__all__ = ["connect", "simulator_settings"]

# The simulator's documented default clock: 0.1 runs the service ten times faster.
_SIM_DEFAULT_TIME_SCALE = 0.1
# Slack on the scaled sync read timeout, so loopback jitter cannot trip it.
_READ_TIMEOUT_SLACK = 5.0


def connect(
    *,
    ledger: LedgerLike | Literal[False] | None = None,
    simulator: SimHandle | None = None,
    **client_kwargs: Any,
) -> FlowClient:
    """A :class:`FlowClient` for the real API when ``USEAPI_TOKEN`` is set; else for a
    freshly started embedded simulator (announced in one line), stopped on ``close()``.

    ``simulator``: a running simulator (``flowup_nb.sim.start()``) to talk to instead; the
    client then reads the time on the simulator's clock, so ``simulator.advance()`` moves
    the ledger's time too. It is left running on ``close()`` (it is yours to stop).

    ``FLOWUP_BASE_URL`` overrides the real API's base URL. ``client_kwargs`` go to
    :class:`FlowClient` (e.g. ``max_retries=5``). ``ledger``: None records every exchange
    in the default ledger (``$FLOWUP_LEDGER`` or the per-user file; its path is shown),
    ``False`` records nothing, or pass a ``Ledger``. ``FLOWUP_SIM_SEED`` and
    ``FLOWUP_SIM_TIME_SCALE`` pin the simulator's seed and clock.
    """
    ledger = _ledger_or_default(ledger)
    if simulator is not None:
        client = FlowClient(ledger=ledger, **{**simulator_settings(simulator), **client_kwargs})
        client.simulator = simulator
        return client
    token = client_kwargs.pop("token", None) or os.environ.get("USEAPI_TOKEN", "").strip()
    if token:
        return FlowClient(token, ledger=ledger, **client_kwargs)

    # Imported only when needed (it is a whole server), and from its module rather than the
    # package, whose history() door leads back here.
    from flowup_nb.sim.handle import SimHandle

    handle = SimHandle(**_simulator_settings())
    try:
        client = FlowClient(ledger=ledger, **{**simulator_settings(handle), **client_kwargs})
    except BaseException:
        handle.stop()
        raise
    client.simulator = handle
    # Stop the server with the client: on close(), or when the client is collected.
    client._closers.append(weakref.finalize(client, handle.stop))
    print(
        f"flowup-nb: USEAPI_TOKEN is not set, so this client talks to the embedded simulator "
        f"at {handle.base_url} (no real account; set USEAPI_TOKEN for the real API)."
    )
    return client


def simulator_settings(handle: SimHandle) -> dict[str, Any]:
    """The keyword arguments of a client (either kind) on the simulator ``handle``: its
    address and token, waits on its time scale, and its clock as the client's."""
    scale = float(getattr(handle, "time_scale", _SIM_DEFAULT_TIME_SCALE))
    return {
        "token": handle.token,
        "base_url": handle.base_url,
        "clock": handle.now,
        **_scaled_defaults(scale),
    }


def _simulator_settings() -> dict[str, Any]:
    """``FLOWUP_SIM_SEED`` and ``FLOWUP_SIM_TIME_SCALE`` pin the embedded simulator, so an
    executed notebook (or a demo) behaves the same on every run."""
    settings: dict[str, Any] = {}
    seed = os.environ.get("FLOWUP_SIM_SEED", "").strip()
    if seed:
        settings["seed"] = int(seed) if seed.isdigit() else seed
    scale = os.environ.get("FLOWUP_SIM_TIME_SCALE", "").strip()
    if scale:
        try:
            settings["time_scale"] = float(scale)
        except ValueError:
            raise InputError(
                f"FLOWUP_SIM_TIME_SCALE must be a number such as 0.1 (got {scale!r})"
            ) from None
    return settings


def _scaled_defaults(scale: float) -> dict[str, Any]:
    """Waits and backoffs on the simulator's clock, so it behaves like the real service."""
    if scale <= 0:  # a zero-latency simulator: nothing worth waiting for
        scale = 0.001
    defaults = RetryPolicy()
    return {
        "poll_interval": PollSchedule().scaled(scale),
        "retry_backoff": defaults.backoff * scale,
        "max_retry_wait": defaults.max_retry_wait * scale,
        "upscale_timeout": SYNC_READ_TIMEOUT * scale + _READ_TIMEOUT_SLACK,
    }


def _ledger_or_default(ledger: LedgerLike | Literal[False] | None) -> LedgerLike | None:
    """The ledger ``connect()`` attaches (owned by flowup_nb.ledger; imported lazily)."""
    if ledger is False:
        return None
    if ledger is not None:
        return ledger
    from flowup_nb.ledger import LedgerError, default_ledger

    try:
        opened = default_ledger()
    except LedgerError as exc:  # recording is a convenience: never block the connection
        warnings.warn(f"flowup-nb: not recording exchanges: {exc}", RuntimeWarning, stacklevel=3)
        return None
    print(f"flowup-nb: recording every exchange in {opened.path} (fu.Ledger() to analyse)")
    return opened
