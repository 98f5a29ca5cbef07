"""Streamlit entry point (``trading-app-ui`` runs ``streamlit run`` on this file):
the page config, the navigation between the pages, and the health strip drawn
above whichever page runs.

Pages live in sibling modules so Streamlit's file watcher reloads them on save."""

import streamlit as st

from trading_app.ui import alerts_page, latency_page, market_page, trade_page
from trading_app.ui.health_strip import health_strip

st.set_page_config(page_title="trading-telemetry", layout="wide")

# Every page is imported outright: a page that cannot be imported is an error the
# user sees, never a page that silently goes missing.
pages = [st.Page(trade_page.render, title="Trade", url_path="trade", default=True),
         st.Page(market_page.render, title="Market", url_path="market"),
         st.Page(latency_page.render, title="Latency", url_path="latency")]
alerts = st.Page(alerts_page.render, title="Alerts", url_path="alerts")
pages.append(alerts)

navigation = st.navigation(pages)
health_strip(alerts)
navigation.run()
