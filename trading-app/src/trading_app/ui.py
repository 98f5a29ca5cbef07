"""Streamlit entry point (``trading-app-ui`` runs ``streamlit run`` on this file).

Pages live in sibling modules so Streamlit's file watcher reloads them on save.
The health strip is drawn here, above whichever page runs."""

import importlib

import streamlit as st

from trading_app import ui_alerts, ui_trade
from trading_app.ui_health import health_strip

st.set_page_config(page_title="trading-telemetry", layout="wide")

pages = [st.Page(ui_trade.render, title="Trade", url_path="trade", default=True)]
for module_name, title in (("ui_market", "Market"), ("ui_latency", "Latency")):
    try:
        module = importlib.import_module(f"trading_app.{module_name}")
    except ModuleNotFoundError:
        continue
    pages.append(st.Page(module.render, title=title, url_path=title.lower()))
alerts_page = st.Page(ui_alerts.render, title="Alerts", url_path="alerts")
pages.append(alerts_page)

navigation = st.navigation(pages)
health_strip(alerts_page)
navigation.run()
