"""The test suite's shared helpers (installed editable by scripts/setup.sh; import
them as ``from telemetry_testkit.procs import ...``)."""
