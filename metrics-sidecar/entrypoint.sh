#!/bin/sh
# Container entrypoint of the metrics-sidecar image.
#   serve (default)  run the sidecar (FastAPI on SIDECAR_PORT, ZeroMQ PULL on SIDECAR_ZMQ_BIND)
#   healthcheck      exit 0 when GET /health answers 200 (the pull loop runs), else 1
#   anything else    exec'd as given (e.g. sh)
set -eu

case "${1:-serve}" in
  serve)
    [ "$#" -gt 0 ] && shift
    # exec: the sidecar becomes PID 1, so SIGTERM from docker stop reaches it directly.
    exec metrics-sidecar "$@"
    ;;
  healthcheck)
    exec python -c 'import os, sys, urllib.request
url = "http://127.0.0.1:%s/health" % os.environ.get("SIDECAR_PORT", "8001")
try:
    sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)
except Exception as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)'
    ;;
  *)
    exec "$@"
    ;;
esac
