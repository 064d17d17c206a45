"""flowup-nb: upscale Google Flow videos from Jupyter, and see what it costs.

Importing this package is cheap: the client, the ledger (pandas) and the widgets
(ipywidgets) load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowup_nb._version import __version__

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "sim": "flowup_nb.sim",
    "Ledger": "flowup_nb.ledger",
    # the notebook layer (ipywidgets loads on first use)
    "UpscaleForm": "flowup_nb.widgets.form",
    "LedgerView": "flowup_nb.widgets.ledger_view",
    # webhooks: the server's job callbacks, for waiting without polling
    "WebhookReceiver": "flowup_nb.webhooks",
    # calibration: the real service's answer shapes held against the simulator's
    "calibrate": "flowup_nb.calibration",
    # the client (flowup_nb.api)
    "connect": "flowup_nb.connecting",
    "FlowClient": "flowup_nb.api.client",
    "AsyncFlowClient": "flowup_nb.api.client",
    "PollSchedule": "flowup_nb.api.policy",
    "Prices": "flowup_nb.api.money",
    **{
        name: "flowup_nb.api.models"
        for name in (
            "Account",
            "Captcha",
            "CaptchaAttempt",
            "GenerationResult",
            "Job",
            "JobStats",
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
            "JobExpiredError",
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
            "AccountReconnectError",
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


# What a type checker (and an editor) sees: the same names as the lazy table above,
# imported for real, so `fu.FlowClient(...)` is checked and completed. A test checks that
# both lists name the same things.
if TYPE_CHECKING:  # pragma: no cover
    from flowup_nb import sim as sim
    from flowup_nb.api.client import AsyncFlowClient as AsyncFlowClient
    from flowup_nb.api.client import FlowClient as FlowClient
    from flowup_nb.api.errors import AccountReconnectError as AccountReconnectError
    from flowup_nb.api.errors import APIConnectionError as APIConnectionError
    from flowup_nb.api.errors import APIStatusError as APIStatusError
    from flowup_nb.api.errors import APITimeoutError as APITimeoutError
    from flowup_nb.api.errors import AuthenticationError as AuthenticationError
    from flowup_nb.api.errors import BadRequestError as BadRequestError
    from flowup_nb.api.errors import CaptchaProviderError as CaptchaProviderError
    from flowup_nb.api.errors import CaptchaRejectedError as CaptchaRejectedError
    from flowup_nb.api.errors import DownloadError as DownloadError
    from flowup_nb.api.errors import FlowError as FlowError
    from flowup_nb.api.errors import InputError as InputError
    from flowup_nb.api.errors import JobExpiredError as JobExpiredError
    from flowup_nb.api.errors import JobFailedError as JobFailedError
    from flowup_nb.api.errors import JobTimeoutError as JobTimeoutError
    from flowup_nb.api.errors import MediaExpiredError as MediaExpiredError
    from flowup_nb.api.errors import MissingTokenError as MissingTokenError
    from flowup_nb.api.errors import NoEligibleAccountError as NoEligibleAccountError
    from flowup_nb.api.errors import NotAVideoError as NotAVideoError
    from flowup_nb.api.errors import NotFoundError as NotFoundError
    from flowup_nb.api.errors import PaymentRequiredError as PaymentRequiredError
    from flowup_nb.api.errors import PermissionDeniedError as PermissionDeniedError
    from flowup_nb.api.errors import PollingTimeoutError as PollingTimeoutError
    from flowup_nb.api.errors import RateLimitError as RateLimitError
    from flowup_nb.api.errors import ResponseFormatError as ResponseFormatError
    from flowup_nb.api.errors import ServerError as ServerError
    from flowup_nb.api.errors import ServiceUnavailableError as ServiceUnavailableError
    from flowup_nb.api.models import Account as Account
    from flowup_nb.api.models import Captcha as Captcha
    from flowup_nb.api.models import CaptchaAttempt as CaptchaAttempt
    from flowup_nb.api.models import GenerationResult as GenerationResult
    from flowup_nb.api.models import Job as Job
    from flowup_nb.api.models import JobStats as JobStats
    from flowup_nb.api.models import Media as Media
    from flowup_nb.api.models import UpscaleResult as UpscaleResult
    from flowup_nb.api.money import Prices as Prices
    from flowup_nb.api.policy import PollSchedule as PollSchedule
    from flowup_nb.calibration import calibrate as calibrate
    from flowup_nb.connecting import connect as connect
    from flowup_nb.ledger import Ledger as Ledger
    from flowup_nb.webhooks import WebhookReceiver as WebhookReceiver
    from flowup_nb.widgets.form import UpscaleForm as UpscaleForm
    from flowup_nb.widgets.ledger_view import LedgerView as LedgerView
