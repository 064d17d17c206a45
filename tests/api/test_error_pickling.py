"""Every exception of the package survives pickle, copy and deepcopy, attributes and text
included: a batch frame holding errors is written by ``to_pickle()`` and read back, and
multiprocessing or joblib can send one to another process."""

from __future__ import annotations

import copy
import importlib
import pickle
import pkgutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from simclient import JO, fast_settings

import flowup_nb as fu
from flowup_nb.api.errors import classify
from flowup_nb.api.parsing import parse_job

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _failed_job() -> fu.Job:
    return parse_job(
        {
            "jobid": "j1234567890123-user:1-email:6a6f-bot:1",
            "status": "failed",
            "error": "Upscale failed: PUBLIC_ERROR_USER_QUOTA_REACHED",
            "errorDetails": "quota reached for the day",
            "code": 429,
            "request": {"resolution": "4K"},
        }
    )


def _status_error(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    return classify(status, headers, body, now=NOW)


def _with_attempts(error: fu.FlowError, attempts: int) -> fu.FlowError:
    error.attempts = attempts  # set by the client on the errors it raises
    return error


# One sample per exception class, built with every attribute it can carry; a class missing
# here fails `test_every_exception_class_has_a_sample`.
SAMPLES: dict[str, Callable[[], BaseException]] = {
    "FlowError": lambda: _with_attempts(fu.FlowError("something failed"), 3),
    "InputError": lambda: fu.InputError("resolution must be '1080p' or '4K'"),
    "MissingTokenError": lambda: fu.MissingTokenError("No API token: pass token=..."),
    "APIConnectionError": lambda: fu.APIConnectionError("refused", request_sent=False),
    "APITimeoutError": lambda: _with_attempts(fu.APITimeoutError("read timed out"), 2),
    "ResponseFormatError": lambda: fu.ResponseFormatError(
        "the job record has no status", status_code=200, snippet='{"jobid"', not_json=True
    ),
    "JobFailedError": lambda: fu.JobFailedError(_failed_job()),
    "JobTimeoutError": lambda: fu.JobTimeoutError("j1-x", 12.5, _failed_job()),
    "DownloadError": lambda: fu.DownloadError(
        "the media host answered 500", url="http://media/v.mp4", status_code=500
    ),
    "MediaExpiredError": lambda: fu.MediaExpiredError("expired", url="http://m/v", status_code=403),
    "NotAVideoError": lambda: fu.NotAVideoError("not an MP4", url="http://m/v"),
    "APIStatusError": lambda: _status_error(418, {"error": "teapot", "jobId": "j9-x"}),
    "BadRequestError": lambda: _status_error(400, {"error": "Invalid job ID format"}),
    "AuthenticationError": lambda: _status_error(401, {"error": "Unauthorized"}),
    "PaymentRequiredError": lambda: _status_error(402, {"error": "no credits"}),
    "PermissionDeniedError": lambda: _status_error(403, {"error": "tier refused"}),
    "CaptchaRejectedError": lambda: _status_error(403, {"error": "captcha_quality: low"}),
    "NotFoundError": lambda: _status_error(404, {"error": "Account not found"}),
    "JobExpiredError": lambda: _status_error(410, {"error": "Job j1-x has expired", "code": 410}),
    "PollingTimeoutError": lambda: _status_error(408, {"error": "timed out"}),
    "RateLimitError": lambda: _status_error(
        429,
        {"error": "throttled", "reason": "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"},
        {"Retry-After": "30"},
    ),
    "NoEligibleAccountError": lambda: _status_error(
        429, {"error": "no_eligible_account", "message": "all quarantined"}
    ),
    "ServerError": lambda: _status_error(500, "Internal Server Error"),
    "ServiceUnavailableError": lambda: _status_error(
        503, {"error": {"code": 503, "message": "The service is unavailable."}}
    ),
    "CaptchaProviderError": lambda: _status_error(
        503, {"error": "Captcha service failed: CapSolver balance"}
    ),
    "AccountReconnectError": lambda: _status_error(
        596, {"error": "Google Flow account jo@example.com must be reconnected", "code": 596}
    ),
    "CalibrationError": lambda: _calibration_error(),
    "LedgerError": lambda: _ledger_error(),
    "StorageError": lambda: _storage_error(),
    "SimError": lambda: _sim_error(),
    "MediaDenied": lambda: _media_denied(),
    "InvalidTransition": lambda: _invalid_transition(),
    "NoRunningLoopError": lambda: _no_running_loop(),
    "LoopNotReentrantError": lambda: _loop_not_reentrant(),
    "WaitEnded": lambda: _wait_ended(),
}


def _calibration_error() -> BaseException:
    from flowup_nb.calibration.probe import CalibrationError

    return CalibrationError("the service is unreachable")


def _ledger_error() -> BaseException:
    from flowup_nb.ledger.errors import LedgerError

    return LedgerError("cannot open the ledger: pass a writable path")


def _storage_error() -> BaseException:
    from flowup_nb.ledger.backends.base import StorageError

    return StorageError("database is locked")


def _sim_error() -> BaseException:
    from flowup_nb.sim import errors

    return errors.SimError(429, {"error": "throttled", "code": 429}, {"Retry-After": "3"})


def _media_denied() -> BaseException:
    from flowup_nb.sim.media import MediaDenied

    return MediaDenied(403, "the signed URL expired")


def _invalid_transition() -> BaseException:
    from flowup_nb.widgets.status import InvalidTransition

    return InvalidTransition("done -> submitting")


def _no_running_loop() -> BaseException:
    from flowup_nb.widgets.tasks import NoRunningLoopError

    return NoRunningLoopError("no running event loop")


def _loop_not_reentrant() -> BaseException:
    from flowup_nb.runloop import LoopNotReentrantError

    return LoopNotReentrantError("cannot block this cell: write `await form.settle()`")


def _wait_ended() -> BaseException:
    from flowup_nb.batch.driver import WaitEnded

    return WaitEnded(_status_error(500, "Internal Server Error"))


def _package_exceptions() -> Iterator[type[BaseException]]:
    for info in pkgutil.walk_packages(fu.__path__, "flowup_nb."):
        # Entry points only: and importing `flowup_nb.calibrate` would bind that name on the
        # package over the function `fu.calibrate`.
        entry_point = info.name.endswith("__main__") or info.name == "flowup_nb.calibrate"
        if not entry_point:
            importlib.import_module(info.name)

    def below(cls: type[BaseException]) -> Iterator[type[BaseException]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    seen = {cls for cls in below(BaseException) if cls.__module__.startswith("flowup_nb.")}
    yield from sorted(seen, key=lambda cls: cls.__qualname__)


def test_every_exception_class_has_a_sample() -> None:
    names = {cls.__qualname__ for cls in _package_exceptions()}
    assert names - set(SAMPLES) == set(), "add a sample for each new exception class"


def _same(original: BaseException, copied: BaseException) -> None:
    assert type(copied) is type(original)
    assert str(copied) == str(original)
    assert copied.args == original.args
    assert vars(copied).keys() == vars(original).keys()
    for name, value in vars(original).items():
        if isinstance(value, BaseException):  # exceptions compare by identity: recurse
            _same(value, vars(copied)[name])
        else:
            assert vars(copied)[name] == value, name
    job = getattr(original, "job", None)
    if job is not None:  # Job's equality skips `raw`; the copy must keep it all the same
        assert copied.job.raw == job.raw  # type: ignore[attr-defined]


COPIES: dict[str, Callable[[BaseException], BaseException]] = {
    "pickle": lambda error: pickle.loads(pickle.dumps(error)),
    "pickle-protocol-0": lambda error: pickle.loads(pickle.dumps(error, protocol=0)),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_error_survives_copying(name: str, how: str) -> None:
    original = SAMPLES[name]()
    assert type(original).__qualname__ == name
    copied = COPIES[how](original)
    _same(original, copied)
    # Copies stay usable: raising one, and copying it again, behave the same.
    with pytest.raises(type(original)) as raised:
        raise copied
    assert str(raised.value) == str(original)
    _same(original, COPIES[how](copied))


def test_a_batch_frame_with_errors_survives_to_pickle(sim: Any, tmp_path: Path) -> None:
    sim.inject("upscale", "402", times=50)
    ids = sim.sample_ids(JO)[:2]
    with fu.FlowClient(sim.token, base_url=sim.base_url, **fast_settings()) as client:
        frame = client.upscale_many(ids, "1080p", mode="sync", progress=False)
    errors = [error for error in frame["error"] if error is not None]
    assert len(errors) == 2 and all(isinstance(e, fu.PaymentRequiredError) for e in errors)

    path = tmp_path / "batch.pkl"
    frame.to_pickle(path)
    back = pd.read_pickle(path)

    assert list(back.columns) == list(frame.columns)
    for before, after in zip(frame["error"], back["error"], strict=True):
        if before is None:
            assert after is None
        else:
            _same(before, after)
