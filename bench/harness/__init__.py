"""wssession benchmark orchestrator (python3 stdlib only); entry point: bench/run.py."""
