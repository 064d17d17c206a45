"""``python -m flowup_nb``: the ``flowup-nb`` command without the console script."""

import sys

from flowup_nb.cli import main

sys.exit(main())
