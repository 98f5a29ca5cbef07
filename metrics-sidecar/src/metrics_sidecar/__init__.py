"""metrics-sidecar: ZeroMQ PULL -> decode -> pre-aggregated state -> Prometheus."""

__version__ = "0.1.0"
