"""docker-compose.infra.yml, the Docker Prometheus config, Grafana provisioning
and the package Dockerfiles agree with each other and with the repository (no
Docker here: the files are checked, and the entrypoints are run on the host)."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetry_testkit.grafana_model import provisioned_datasource_uid
from telemetry_testkit.procs import BIN, REPO, free_port, start_ready, wait_until

COMPOSE = yaml.safe_load((REPO / "docker-compose.infra.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PROM_CONFIG = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
PINNED = re.compile(r"^[\w.\-/]+:v?\d+\.\d+\.\d+$")


def mounts(service: str) -> dict[str, str]:
    """container path -> host path (relative to the compose file) of bind mounts."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        out[target] = source
    return out


def test_services_and_pinned_images() -> None:
    assert set(SERVICES) == {"prometheus", "grafana", "blackbox"}
    for name, service in SERVICES.items():
        image = service["image"]
        assert PINNED.match(image) and "latest" not in image, f"{name}: {image} is not pinned to a version"


def test_every_mounted_file_exists_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name in SERVICES:
        for target, source in mounts(name).items():
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} (mounted at {target}) does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_prometheus_service_runs_the_repo_config_with_its_rules() -> None:
    service = SERVICES["prometheus"]
    m = mounts("prometheus")
    config_target = next(a.split("=", 1)[1] for a in service["command"] if a.startswith("--config.file="))
    assert m[config_target] == "./prometheus/prometheus.yml"
    # rule_files are relative to the config: the rules directory sits beside it.
    assert PROM_CONFIG["rule_files"] == ["rules/*.yml"]
    assert m[str(Path(config_target).parent / "rules")] == "./prometheus/rules"
    assert "host.docker.internal:host-gateway" in service["extra_hosts"]


def test_prometheus_scrapes_the_host_processes_every_second() -> None:
    assert PROM_CONFIG["global"]["scrape_interval"] == "1s"
    jobs = {job["job_name"]: job for job in PROM_CONFIG["scrape_configs"]}
    sidecar, api = jobs["metrics-sidecar"], jobs["trading-app-api"]
    assert sidecar["metrics_path"] == "/metrics/"
    assert sidecar["static_configs"][0]["targets"] == ["host.docker.internal:8001"]
    assert api.get("metrics_path", "/metrics") == "/metrics"
    assert api["static_configs"][0]["targets"] == ["host.docker.internal:8000"]
    for job in (sidecar, api):
        assert job.get("scrape_interval", "1s") == "1s"


def test_blackbox_job_points_at_the_blackbox_service_and_a_real_module() -> None:
    job = next(j for j in PROM_CONFIG["scrape_configs"] if j["job_name"] == "blackbox-health")
    address = next(r["replacement"] for r in job["relabel_configs"] if r.get("target_label") == "__address__")
    host, port = address.split(":")
    assert host == "blackbox" and f"127.0.0.1:{port}:{port}" in SERVICES["blackbox"]["ports"]
    assert mounts("blackbox")["/etc/blackbox/blackbox.yml"] == "./prometheus/blackbox.yml"
    modules = yaml.safe_load((REPO / "prometheus" / "blackbox.yml").read_text())["modules"]
    assert job["params"]["module"] == ["http_health"] and "http_health" in modules
    assert "host.docker.internal:host-gateway" in SERVICES["blackbox"]["extra_hosts"]


def test_grafana_provisioning_matches_the_mounts() -> None:
    grafana = SERVICES["grafana"]
    m = mounts("grafana")
    assert m["/etc/grafana/provisioning"] == "./grafana/provisioning"
    providers = yaml.safe_load((REPO / "grafana/provisioning/dashboards/trading-telemetry.yml").read_text())
    dashboards_path = providers["providers"][0]["options"]["path"]
    assert m[dashboards_path] == "./grafana/dashboards"
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_path + "/")
    assert (REPO / "grafana/dashboards" / Path(home).name).is_file()
    source = yaml.safe_load((REPO / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert source["uid"] == provisioned_datasource_uid() and source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"  # the compose service name and port


# -- Dockerfiles and entrypoints -------------------------------------------------

PACKAGES = {"metrics-sidecar": ["metrics-sidecar"],
            "trading-app": ["trading-app-api", "trading-app-ui", "trading-app-feed"]}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = dockerfile.read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_dockerfile_slim_non_root_with_healthcheck(package: str) -> None:
    directory = REPO / package
    steps = _instructions(directory / "Dockerfile")
    kinds = [k for k, _ in steps]
    base = next(arg for kind, arg in steps if kind == "FROM")
    assert re.match(r"^python:3\.\d+\.\d+-slim-\w+$", base), base
    user = [arg for kind, arg in steps if kind == "USER"]
    assert user and user[-1] not in ("root", "0") and kinds.index("USER") > kinds.index("RUN")
    assert "HEALTHCHECK" in kinds and "entrypoint.sh" in next(a for k, a in steps if k == "HEALTHCHECK")
    assert next(a for k, a in steps if k == "ENTRYPOINT") == '["/usr/local/bin/entrypoint.sh"]'
    for kind, arg in steps:
        if kind == "COPY" and not arg.startswith("--from="):  # --from: a build stage's output
            for source in arg.split()[:-1]:
                assert (directory / source).exists(), f"{package}/Dockerfile copies missing {source}"
    script = directory / "entrypoint.sh"
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    scripts = tomllib.loads((directory / "pyproject.toml").read_text())["project"]["scripts"]
    body = script.read_text()
    for command in PACKAGES[package]:
        assert command in scripts and f"exec {command}" in body, command


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": f"{BIN}:{os.environ['PATH']}", **extra}


def _healthcheck(script: Path, **extra: str) -> int:
    return subprocess.run([str(script), "healthcheck"], env={**os.environ, **_env(**extra)},
                          capture_output=True, timeout=20).returncode


def test_sidecar_entrypoint_serves_and_its_healthcheck_tells_up_from_down(tmp_path: Path) -> None:
    script = REPO / "metrics-sidecar" / "entrypoint.sh"
    service = start_ready("sidecar-entrypoint", [str(script)], _env(
        SIDECAR_PORT="0", SIDECAR_HOST="127.0.0.1", SIDECAR_ZMQ_BIND="tcp://127.0.0.1:0"), tmp_path)
    port = service.http.rsplit(":", 1)[1]
    try:
        assert _healthcheck(script, SIDECAR_PORT=port) == 0
    finally:
        assert service.stop() == 0
    assert _healthcheck(script, SIDECAR_PORT=port) == 1


def test_trading_app_entrypoint_runs_the_api_and_streamlit(tmp_path: Path) -> None:
    script = REPO / "trading-app" / "entrypoint.sh"
    api = start_ready("api-entrypoint", [str(script), "api"], _env(
        WEBAPP_PORT="0", WEBAPP_HOST="127.0.0.1", WEBAPP_ZMQ_ADDR="tcp://127.0.0.1:1"), tmp_path)
    try:
        port = api.http.rsplit(":", 1)[1]
        pid = str(api.popen.pid)  # exec'd: the entrypoint's pid is the server's
        assert _healthcheck(script, HEALTHCHECK_PID=pid, WEBAPP_PORT=port) == 0
        assert _healthcheck(script, HEALTHCHECK_PID=pid, WEBAPP_PORT=str(free_port())) == 1
    finally:
        assert api.stop(15) == 0
    ui_port = str(free_port())
    ui = subprocess.Popen([str(script), "ui"], env={**os.environ, **_env(WEBAPP_UI_PORT=ui_port,
                                                                       WEBAPP_HOST="127.0.0.1")},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        # entrypoint.sh -> trading-app-ui -> `python -m streamlit run`, all exec'd in one pid
        wait_until(lambda: b"streamlit\0run" in Path(f"/proc/{ui.pid}/cmdline").read_bytes(), 10, 0.05,
                   "streamlit run")
        wait_until(lambda: _healthcheck(script, HEALTHCHECK_PID=str(ui.pid), WEBAPP_UI_PORT=ui_port) == 0, 60,
                   0.5, "streamlit healthy")
    finally:
        ui.terminate()
        try:
            ui.wait(10)
        except subprocess.TimeoutExpired:
            ui.kill()
            ui.wait()
