"""The live dashboard tests' stack (real sidecar, API and Prometheus): a
module-scoped fixture, so each test module that uses it gets its own."""

from telemetry_testkit.dashboard_stack import stack  # noqa: F401 - the fixture
