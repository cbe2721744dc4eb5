"""Run a private Azurite until Ctrl+C: `python azurite/start.py` prints its connection string."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from azurite.harness import running_azurite


def main() -> None:
    with running_azurite() as azurite:
        print(f"AZURE_STORAGE_CONNECTION_STRING={azurite.connection_string}", flush=True)
        print(f"log: {azurite.log_path}  (Ctrl+C stops Azurite)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
