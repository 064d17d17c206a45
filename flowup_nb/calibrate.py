"""``python -m flowup_nb.calibrate``: hold the simulator against the real service.

The code lives in :mod:`flowup_nb.calibration`; import it from there (or use
``fu.calibrate``). Importing this module would bind the name ``flowup_nb.calibrate`` to
the module, hiding the function ``fu.calibrate``.
"""

from __future__ import annotations

from flowup_nb.calibration.command import main

if __name__ == "__main__":
    raise SystemExit(main())
