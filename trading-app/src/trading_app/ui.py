"""Streamlit entry point (``trading-app-ui`` runs ``streamlit run`` on this file).

Pages live in sibling modules so Streamlit's file watcher reloads them on save.
The health strip is drawn here, above whichever page runs."""

import streamlit as st

from trading_app import ui_alerts, ui_latency, ui_market, ui_trade
from trading_app.ui_health import health_strip

st.set_page_config(page_title="trading-telemetry", layout="wide")

# Every page is imported outright: a page that cannot be imported is an error the
# user sees, never a page that silently goes missing.
pages = [st.Page(ui_trade.render, title="Trade", url_path="trade", default=True),
         st.Page(ui_market.render, title="Market", url_path="market"),
         st.Page(ui_latency.render, title="Latency", url_path="latency")]
alerts_page = st.Page(ui_alerts.render, title="Alerts", url_path="alerts")
pages.append(alerts_page)

navigation = st.navigation(pages)
health_strip(alerts_page)
navigation.run()
