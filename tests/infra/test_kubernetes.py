"""deploy/kubernetes, checked offline: the core kinds with kubernetes-validate
(schemas bundled in the package, strict: unknown fields fail), the Prometheus
Operator kinds against a vendored schema of their documented fields
(tests/infra/k8s_schemas/), the generated rules and dashboards against their
sources, and the Pod against what the code really uses: settings fields, ports,
loopback ZeroMQ, probe and metrics paths served by the real programs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from metrics_sidecar.settings import Settings as SidecarSettings
from telemetry_devtools import multihost
from telemetry_testkit.grafana_model import rules
from telemetry_testkit.procs import REPO, require_binary, start_api, start_sidecar
from trading_app.settings import AppSettings

K8S = REPO / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).resolve().parent / "k8s_schemas"
OPERATOR_KINDS = {"PodMonitor": "podmonitor.json", "PrometheusRule": "prometheusrule.json"}
PREFIXES: dict[str, tuple[str, type[BaseModel]]] = {
    "trading-telemetry/trading-app": ("WEBAPP_", AppSettings),
    "trading-telemetry/metrics-sidecar": ("SIDECAR_", SidecarSettings),
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [(name, doc) for name in kustomization["resources"]
            for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


DOCS = _documents()


def _one(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in DOCS if doc["kind"] == kind]
    assert len(found) == 1, (kind, len(found))
    return found[0]


def _containers() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _one("Deployment")["spec"]["template"]["spec"]["containers"]}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def _ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


def test_generated_rules_and_dashboards_are_current() -> None:
    result = subprocess.run([sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert set(kustomization) == {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    images = {c["image"] for c in _containers().values()}
    assert {i["name"] for i in kustomization["images"]} == images == set(PREFIXES)
    listed = set(kustomization["resources"])
    present = {str(p.relative_to(K8S)) for p in K8S.rglob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert {doc["kind"] for _, doc in DOCS} == {"Namespace", "Deployment", "Service", "PodMonitor",
                                                "PrometheusRule", "ConfigMap", "NetworkPolicy"}


@pytest.mark.parametrize("index", range(len(DOCS)), ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in DOCS])
def test_every_manifest_is_valid(index: int) -> None:
    _validate(DOCS[index][1])


def _validate(doc: dict[str, Any]) -> None:
    """Operator kinds against the vendored schema, core kinds with kubernetes-validate (strict)."""
    if doc["kind"] in OPERATOR_KINDS:
        schema = json.loads((SCHEMAS / OPERATOR_KINDS[doc["kind"]]).read_text())
        jsonschema.validate(doc, schema)
    else:
        import kubernetes_validate

        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_validators_reject_a_typo() -> None:
    """Both validators fail on an unknown field (so a passing manifest means something)."""
    import kubernetes_validate

    deployment = json.loads(json.dumps(_one("Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)
    monitor = json.loads(json.dumps(_one("PodMonitor")))
    monitor["spec"]["podMetricsEndpoints"][0]["pathh"] = "/metrics"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, json.loads((SCHEMAS / "podmonitor.json").read_text()))
    rule = json.loads(json.dumps(_one("PrometheusRule")))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, json.loads((SCHEMAS / "prometheusrule.json").read_text()))


@pytest.mark.prometheus
def test_prometheus_rule_holds_every_rule_and_passes_promtool(tmp_path: Path) -> None:
    groups = _one("PrometheusRule")["spec"]["groups"]
    assert sorted(r.get("record") or r["alert"] for g in groups for r in g["rules"]) == sorted(
        r.get("record") or r["alert"] for r in rules())
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([require_binary("promtool"), "check", "rules", str(tmp_path / "rules.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_are_configmaps_for_grafanas_sidecar() -> None:
    maps = [doc for _, doc in DOCS if doc["kind"] == "ConfigMap"]
    files = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    assert [name for m in maps for name in m["data"]] == [p.name for p in files]
    for cm, path in zip(maps, files, strict=True):
        assert cm["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert cm["data"][path.name] == path.read_text()


def test_container_settings_are_real_fields_and_agree() -> None:
    """Every env var is a field of the container's settings object (an unknown
    one would be ignored silently), each container port is the port its settings
    give, and the apps reach the sidecar on the Pod's loopback."""
    containers = _containers()
    settings: dict[str, Any] = {}
    for name, container in containers.items():
        prefix, model = PREFIXES[container["image"]]
        env = _env(container)
        unknown = [k for k in env if not k.startswith(prefix) or k[len(prefix):].lower() not in model.model_fields]
        assert not unknown, f"{name}: not settings fields: {unknown}"
        settings[name] = model.from_env(env, env_file=None)  # type: ignore[attr-defined]
    api, ui, sidecar = settings["api"], settings["ui"], settings["metrics-sidecar"]
    assert _ports(containers["api"]) == {"api": api.port}
    assert _ports(containers["ui"]) == {"ui": ui.ui_port}
    assert _ports(containers["metrics-sidecar"]) == {"metrics": sidecar.port}
    bind = urlparse(sidecar.zmq_bind)
    assert bind.hostname == "127.0.0.1", "ZeroMQ stays on the Pod's loopback"
    for app in (api, ui):
        assert app.zmq_addr == sidecar.zmq_bind
        assert urlparse(app.sidecar_url).hostname == "127.0.0.1" and urlparse(app.sidecar_url).port == sidecar.port
    assert sidecar.state_dir in [m["mountPath"] for m in containers["metrics-sidecar"]["volumeMounts"]]
    for container in containers.values():
        assert set(container["resources"]) == {"requests", "limits"}, container["name"]
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}, container["name"]


def test_services_monitor_and_policy_name_real_ports() -> None:
    containers = _containers()
    named = {name: port for c in containers.values() for name, port in _ports(c).items()}
    for service in (doc for _, doc in DOCS if doc["kind"] == "Service"):
        for port in service["spec"]["ports"]:
            assert named[port["targetPort"]] == port["port"], service["metadata"]["name"]
    monitor = _one("PodMonitor")["spec"]
    jobs = {e["port"]: e["relabelings"][0]["replacement"] for e in monitor["podMetricsEndpoints"]}
    assert jobs == {"metrics": "metrics-sidecar", "api": "trading-app-api"}  # the jobs the rules read
    rule_text = " ".join(r["expr"] for r in rules())
    assert all(f'job="{job}"' in rule_text for job in jobs.values())
    policy = _one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"] and len(policy["ingress"]) == 1
    ingress = policy["ingress"][0]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert sorted(p["port"] for p in ingress["ports"]) == ["api", "metrics", "ui"]
    selector = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"] == selector == monitor["selector"]["matchLabels"]


def test_ui_probe_is_the_one_the_image_healthcheck_uses() -> None:
    """Streamlit serves no /health; the image's HEALTHCHECK (tested in test_compose.py) asks this path."""
    ui = _containers()["ui"]
    entrypoint = (REPO / "trading-app" / "entrypoint.sh").read_text()
    match = re.search(r'if "streamlit" in cmdline:\s*url = "http://127\.0\.0\.1:%s(/[^"]*)"', entrypoint)
    assert match, "trading-app/entrypoint.sh no longer names Streamlit's health path"
    assert {ui[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")} == {match.group(1)}
    assert {ui[p]["httpGet"]["port"] for p in ("readinessProbe", "livenessProbe")} == {"ui"}


def test_multihost_ports_are_the_programs_defaults() -> None:
    """scripts/multihost.py and prometheus/agent.yml rely on the defaults."""
    sidecar, app = SidecarSettings(), AppSettings()
    defaults = (sidecar.port, sidecar.zmq_bind, app.port)
    assert defaults == (multihost.SIDECAR_PORT, multihost.SIDECAR_ZMQ, multihost.API_PORT)
    assert app.zmq_addr == sidecar.zmq_bind
    agent = yaml.safe_load((REPO / "prometheus" / "agent.yml").read_text())
    targets = {job["job_name"]: (job["static_configs"][0]["targets"], job["metrics_path"])
               for job in agent["scrape_configs"]}
    assert targets == {"metrics-sidecar": ([f"127.0.0.1:{sidecar.port}"], "/metrics/"),
                       "trading-app-api": ([f"127.0.0.1:{app.port}"], "/metrics")}


def test_probe_and_metrics_paths_are_served_by_the_real_programs(tmp_path: Path) -> None:
    """The sidecar and the API started with the Pod's settings (ports from the OS,
    loopback): every probe path and PodMonitor path answers 200."""
    containers = _containers()
    paths = {name: {c[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}
             for name, c in containers.items()}
    scraped = {e["port"]: e["path"] for e in _one("PodMonitor")["spec"]["podMetricsEndpoints"]}
    sidecar_env = {**_env(containers["metrics-sidecar"]), "SIDECAR_HOST": "127.0.0.1", "SIDECAR_PORT": "0",
                   "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0", "SIDECAR_STATE_DIR": str(tmp_path / "state")}
    sidecar = start_sidecar(tmp_path / "sidecar", sidecar_env)
    api = None
    try:
        api_env = {**_env(containers["api"]), "WEBAPP_HOST": "127.0.0.1", "WEBAPP_PORT": "0",
                   "WEBAPP_SIDECAR_URL": sidecar.http}
        api = start_api(tmp_path / "api", sidecar.zmq, api_env)
        for base, wanted in ((sidecar.http, paths["metrics-sidecar"] | {scraped["metrics"]}),
                             (api.http, paths["api"] | {scraped["api"]})):
            for path in sorted(wanted):
                assert httpx.get(base + path, timeout=5).status_code == 200, base + path
    finally:
        if api is not None:
            api.kill()
        sidecar.kill()


def test_kustomize_build_renders_valid_manifests() -> None:
    """What `kubectl apply -k` would send: every object namespaced and labelled,
    and still valid. kubectl's built-in kustomize needs no cluster."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (the manifests are validated one by one above)")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted(d["kind"] for d in built) == sorted(d["kind"] for _, d in DOCS)
    for doc in built:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "trading-telemetry", doc["kind"]
        if doc["kind"] == "Namespace":
            continue
        assert doc["metadata"]["namespace"] == "trading", doc["kind"]
        _validate(doc)
    deployment = next(d for d in built if d["kind"] == "Deployment")
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert images == {"trading-telemetry/trading-app:0.1.0", "trading-telemetry/metrics-sidecar:0.1.0"}
