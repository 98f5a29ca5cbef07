#!/bin/sh
# Container entrypoint of the trading-app image.
#   api (default)    the FastAPI server (trading-app-api) on WEBAPP_PORT
#   ui               the Streamlit UI: trading-app-ui execs `streamlit run` on WEBAPP_UI_PORT
#   feed ARGS        a market feed: trading-app-feed ARGS (e.g. --source sim)
#   healthcheck      exit 0 when the running role is healthy (API /health or UI /_stcore/health)
#   anything else    exec'd as given (e.g. sh)
set -eu

role="${1:-api}"
[ "$#" -gt 0 ] && shift
case "$role" in
  # exec: the server becomes PID 1, so SIGTERM from docker stop reaches it directly.
  api) exec trading-app-api "$@" ;;
  ui) exec trading-app-ui "$@" ;;
  feed) exec trading-app-feed "$@" ;;
  healthcheck)
    # The role is whatever PID 1 runs (HEALTHCHECK_PID: another process, for
    # tests); a feed has no HTTP endpoint to ask.
    exec python -c 'import os, sys, urllib.request
cmdline = open("/proc/%s/cmdline" % os.environ.get("HEALTHCHECK_PID", "1"), "rb").read().replace(b"\0", b" ").decode(errors="replace")
if "streamlit" in cmdline:
    url = "http://127.0.0.1:%s/_stcore/health" % os.environ.get("WEBAPP_UI_PORT", "8501")
elif "trading-app-api" in cmdline:
    url = "http://127.0.0.1:%s/health" % os.environ.get("WEBAPP_PORT", "8000")
else:
    sys.exit(0)
try:
    sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)
except Exception as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)'
    ;;
  *) exec "$role" "$@" ;;
esac
