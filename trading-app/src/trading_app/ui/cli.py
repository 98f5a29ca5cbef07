"""Console script ``trading-app-ui``: ``streamlit run`` on app.py, headless."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from trading_app.serve import settings_or_exit

APP = Path(__file__).with_name("app.py")


def main() -> int:
    """Run ``streamlit run app.py`` headless on WEBAPP_UI_PORT; extra args pass through."""
    settings = settings_or_exit("trading-app-ui")
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP),
           "--server.headless", "true",
           "--server.address", settings.host,
           "--server.port", str(settings.ui_port),
           "--browser.gatherUsageStats", "false",
           # Viewers of a trading desk tool get no Deploy/Rerun/Clear-cache developer menu.
           "--client.toolbarMode", "viewer",
           *sys.argv[1:]]
    env = dict(os.environ)
    # execvpe: Streamlit owns the process, so SIGTERM reaches it directly.
    os.execvpe(cmd[0], cmd, env)
