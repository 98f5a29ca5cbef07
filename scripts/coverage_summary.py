"""Print one coverage line per package from the data ``./test.sh`` collected
(pytest-cov, in-process code only: the real sidecar and app processes the e2e
tests start are not traced)."""

from __future__ import annotations

import io
import sys

import coverage

PACKAGES = {"metrics-sidecar": "*/metrics_sidecar/*", "trading-app": "*/trading_app/*"}


def main() -> int:
    cov = coverage.Coverage()
    try:
        cov.load()
    except coverage.CoverageException as exc:
        print(f"no coverage data: {exc}")
        return 0
    for package, pattern in PACKAGES.items():
        try:
            percent = cov.report(include=[pattern], file=io.StringIO())
        except coverage.CoverageException:  # no file of this package ran (a -k selection)
            print(f"{package:16} no data")
            continue
        print(f"{package:16} {percent:5.1f}% of statements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
