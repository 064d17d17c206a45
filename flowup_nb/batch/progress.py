"""The batch's progress bar: ``tqdm.auto`` (a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

from typing import Any

from flowup_nb.batch.scheduler import Counts

__all__ = ["Progress"]


class Progress:
    """Finished items as the bar, with done / failed / running / waiting beside it."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self._bar: Any = None
        self._last: Counts | None = None
        if enabled:
            from tqdm.auto import tqdm  # imported on use: a widget in a kernel

            self._bar = tqdm(total=total, desc=description, unit="video", dynamic_ncols=True)

    def show(self, counts: Counts) -> None:
        if self._bar is None or counts == self._last:
            return
        self._last = counts
        self._bar.set_postfix(
            done=counts.done,
            failed=counts.failed,
            running=counts.running,
            waiting=counts.waiting,
            refresh=False,
        )
        self._bar.update(counts.finished - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
