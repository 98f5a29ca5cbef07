"""trading-app: Streamlit UI, FastAPI service and market feeds that publish
trade, tick and heartbeat telemetry over ZeroMQ PUSH."""

__version__ = "0.1.0"
