"""Three simulated hosts on this machine (network namespaces): hosts a and b each
run trading-app-api, metrics-sidecar and a Prometheus agent; host c runs the
central Prometheus. The plan lives in devtools/src/telemetry_devtools/multihost.py
(the tests run the same one).

    sudo .venv/bin/python scripts/multihost.py up     # namespaces + 7 processes
    sudo .venv/bin/python scripts/multihost.py down   # stops them, removes the namespaces
"""

import sys

from telemetry_devtools.multihost import main

if __name__ == "__main__":
    sys.exit(main())
