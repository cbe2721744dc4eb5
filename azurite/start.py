"""Run a private Azurite until Ctrl+C or SIGTERM: `python azurite/start.py` prints its connection string.

The same as `python -m messagehandler.testing.azurite`, using the Azurite pinned in this folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from messagehandler.testing.azurite import main  # noqa: E402 - the repository root must be on the path first

if __name__ == "__main__":
    main(search=[ROOT])
