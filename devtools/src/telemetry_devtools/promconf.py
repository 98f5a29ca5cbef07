"""Render a Prometheus config for processes running on this host (the Docker-free
path). The same rule files as docker-compose's Prometheus are loaded."""

from __future__ import annotations

from pathlib import Path

import yaml

from telemetry_devtools import REPO

RULES_DIR = REPO / "prometheus" / "rules"


def render(targets: dict[str, tuple[str, str]], scrape_interval: str = "1s",
           rules_dir: Path | None = RULES_DIR) -> str:
    """targets: job name -> (host:port, metrics_path)."""
    config: dict[str, object] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [address]}]}
            for job, (address, path) in targets.items()
        ],
    }
    if rules_dir is not None and rules_dir.is_dir():
        config["rule_files"] = [str(p) for p in sorted(rules_dir.glob("*.yml"))]
    return yaml.safe_dump(config, sort_keys=False)
