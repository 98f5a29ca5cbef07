"""The Streamlit UI (docs/ui.md). ``trading-app-ui`` (cli.py) runs ``streamlit run``
on app.py, the entry that builds the navigation. Each page is a module of its own
(trade_page.py, market_page.py, latency_page.py, alerts_page.py); each piece they
share has one too: the settings (app_settings.py), the process-wide publisher
(app_publisher.py) and its /metrics server (metrics_server.py), reads of the
sidecar's API (sidecar_api.py), of a Prometheus text exposition
(exposition_reader.py) and of Prometheus' HTTP API (prometheus_api.py), order entry
rules (order_entry.py), number formats (number_format.py), the health strip, the
blotter and the positions table.

This package's directory is the Streamlit script's directory, so its file watcher
reloads every module here on save (``--server.runOnSave``). Streamlit also puts
it on ``sys.path``: a module here must not be named like a top-level module (the
standard library's ``http``, or ``prometheus_client``), and there is no ``pages``
folder (Streamlit's older multipage layout)."""
