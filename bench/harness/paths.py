"""Where things live: repo root, cargo target dir, harness install dir."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
# Registry installs (venv, node_modules) and logs; never committed.
WORK = ROOT / "target" / "bench"
LOGS = WORK / "logs"
