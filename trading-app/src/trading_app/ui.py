"""Streamlit entry point (``trading-app-ui`` runs ``streamlit run`` on this file).

Pages live in sibling modules so Streamlit's file watcher reloads them on save."""

import importlib

import streamlit as st

from trading_app import ui_trade

st.set_page_config(page_title="trading-telemetry", layout="wide")

pages = [st.Page(ui_trade.render, title="Trade", url_path="trade", default=True)]
for module_name, title in (("ui_market", "Market"), ("ui_latency", "Latency")):
    try:
        module = importlib.import_module(f"trading_app.{module_name}")
    except ModuleNotFoundError:
        continue
    pages.append(st.Page(module.render, title=title, url_path=title.lower()))

st.navigation(pages).run()
