"""The pieces of ``scripts/launch.py``: options and settings (options.py), port
checks (ports.py), and the processes it owns (children.py)."""
