"""Calibration: the shapes of the real service's answers, held against the simulator's.

``calibrate()`` (also ``fu.calibrate()`` and ``python -m flowup_nb.calibrate``) runs it; the
modules do one step each: ``redact`` (what may be recorded), ``shapes`` (a JSON answer's
shape), ``probe`` (one HTTP call, recorded), ``service`` (the calls made to the service),
``twin`` (the same calls to a simulator in the same situation), ``diff`` (what differs).
See docs/calibration.md.
"""

from __future__ import annotations

from flowup_nb.calibration.command import CalibrationReport, calibrate, main
from flowup_nb.calibration.diff import Difference
from flowup_nb.calibration.probe import CalibrationError

__all__ = ["CalibrationError", "CalibrationReport", "Difference", "calibrate", "main"]
