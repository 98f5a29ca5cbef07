"""The UI's settings, read from the environment once per Streamlit process."""

from __future__ import annotations

import streamlit as st

from trading_app.settings import AppSettings


@st.cache_resource
def get_settings() -> AppSettings:
    return AppSettings.from_env()
