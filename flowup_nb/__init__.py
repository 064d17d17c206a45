"""flowup-nb: upscale Google Flow videos from Jupyter, and see what it costs.

Importing this package is cheap: the client, the ledger (pandas) and the widgets
(ipywidgets) load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "sim": "flowup_nb.sim",
    "Ledger": "flowup_nb.ledger",
    # the notebook layer (ipywidgets loads on first use)
    "UpscaleForm": "flowup_nb.widgets.form",
    "LedgerView": "flowup_nb.widgets.ledger_view",
    # webhooks: the server's job callbacks, for waiting without polling
    "WebhookReceiver": "flowup_nb.webhooks",
    # the client (flowup_nb.api)
    "connect": "flowup_nb.api.connecting",
    "FlowClient": "flowup_nb.api.client",
    "AsyncFlowClient": "flowup_nb.api.client",
    "PollSchedule": "flowup_nb.api.policy",
    **{
        name: "flowup_nb.api.models"
        for name in (
            "Account",
            "Captcha",
            "CaptchaAttempt",
            "GenerationResult",
            "Job",
            "Media",
            "UpscaleResult",
        )
    },
    **{
        name: "flowup_nb.api.errors"
        for name in (
            "FlowError",
            "InputError",
            "MissingTokenError",
            "APIConnectionError",
            "APITimeoutError",
            "ResponseFormatError",
            "JobFailedError",
            "JobTimeoutError",
            "DownloadError",
            "MediaExpiredError",
            "NotAVideoError",
            "APIStatusError",
            "BadRequestError",
            "AuthenticationError",
            "PaymentRequiredError",
            "PermissionDeniedError",
            "CaptchaRejectedError",
            "NotFoundError",
            "PollingTimeoutError",
            "RateLimitError",
            "NoEligibleAccountError",
            "ServerError",
            "ServiceUnavailableError",
            "CaptchaProviderError",
        )
    },
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowup_nb' has no attribute {name!r}")
    value = importlib.import_module(module)
    if name != module.rsplit(".", 1)[-1]:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from flowup_nb import sim as sim
