"""The OpenAPI document of a real sidecar describes every market-data endpoint:
its parameters with their constraints, its response model and every model that
model uses (down to the leaves), its error responses; /docs serves it. And the
error responses it promises are the ones a real request gets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from telemetry_testkit.procs import Service, start_sidecar, wait_until
from telemetry_testkit.sockets import push_socket


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_sidecar(tmp_path_factory.mktemp("openapi"))
    yield service
    service.kill()


@pytest.fixture(scope="module")
def spec(sidecar: Service) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(sidecar.http + "/openapi.json", timeout=10).json()
    return body


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def closure(spec: dict[str, Any], names: set[str]) -> set[str]:
    schemas = spec["components"]["schemas"]
    out: set[str] = set()
    todo = set(names)
    while todo:
        name = todo.pop()
        assert name in schemas, f"{name} referenced but not defined"
        out.add(name)
        todo |= refs(schemas[name]) - out
    return out


ENDPOINTS: dict[str, tuple[str, dict[str, dict[str, Any]], set[str]]] = {
    # path: (200 model, query/path parameters and their schema constraints, error statuses)
    "/symbols": ("SymbolList", {}, {"422"}),
    "/symbols/{symbol}": ("SymbolView", {"symbol": {"type": "string"}}, {"404", "422"}),
    "/symbols/{symbol}/history": ("History", {"symbol": {"type": "string"},
                                              "limit": {"type": "integer", "minimum": 1, "default": 1000}},
                                  {"404", "422", "503"}),
    "/symbols/{symbol}/ohlc": ("Ohlc", {"symbol": {"type": "string"},
                                        "timeframe": {"enum": ["1m", "5m", "15m", "1h", "4h", "1d",
                                                               "M1", "M5", "M15", "H1", "H4", "D1"], "default": "1m"},
                                        "limit": {"type": "integer", "minimum": 1, "default": 100}},
                               {"404", "422", "503"}),
    "/analytics/sides": ("Sides", {}, {"422", "503"}),
}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_every_endpoint_has_its_parameters_models_and_errors(spec: dict[str, Any], path: str) -> None:
    model, params, errors = ENDPOINTS[path]
    op = spec["paths"][path]["get"]
    assert op["summary"] and op["tags"] == ["market data"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    if path.endswith(("/history", "/ohlc")):  # or a symbol ending in /history, /ohlc (docs/api.md)
        assert ok == {"anyOf": [{"$ref": f"#/components/schemas/{model}"},
                                {"$ref": "#/components/schemas/SymbolView"}], "title": ok["title"]}
    else:
        assert ok == {"$ref": f"#/components/schemas/{model}"}
    got = {p["name"]: p for p in op.get("parameters", [])}
    assert set(got) == set(params)
    for name, constraints in params.items():
        assert got[name]["description"], name
        assert {k: got[name]["schema"].get(k) for k in constraints} == constraints, name
    assert set(op["responses"]) - {"200"} == errors | {"4XX"}
    for status in errors | {"4XX"}:  # the one error shape (docs/api.md)
        assert op["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"}, (path, status)
    # Every model the response uses is defined, and every one of its fields is described or typed.
    for name in closure(spec, {model}):
        schema = spec["components"]["schemas"][name]
        assert schema["type"] == "object" and schema["properties"], name


def test_nested_models_are_all_in_the_document(spec: dict[str, Any]) -> None:
    assert closure(spec, {"SymbolView"}) == {"SymbolView", "Analytics", "WindowAnalytics", "PositionModel"}
    assert closure(spec, {"Ohlc"}) == {"Ohlc", "BarModel"}
    assert closure(spec, {"History"}) == {"History", "TickPoint"}
    assert closure(spec, {"SymbolList"}) == {"SymbolList", "SymbolSummary"}
    assert closure(spec, {"Sides"}) == {"Sides", "SideModel", "SideWindow"}
    view = spec["components"]["schemas"]["SymbolView"]["properties"]
    assert {"symbol", "price", "last_tick_ts", "ticks", "trades", "as_of", "analytics", "position"} <= set(view)


def test_stream_documents_its_events(spec: dict[str, Any]) -> None:
    op = spec["paths"]["/stream"]["get"]
    content = op["responses"]["200"]["content"]["text/event-stream"]
    events = content["x-events"]
    assert set(events) == {"tick", "trade", "analytics"}
    assert set(events["tick"]["properties"]) == {"symbol", "price", "volume", "ts", "source", "bid", "ask"}
    assert set(events["trade"]["properties"]) == {"side", "qty", "symbol", "price", "ts"}
    assert events["analytics"] == {"$ref": "#/components/schemas/SymbolView"}
    assert {p["name"] for p in op["parameters"]} == {"symbols", "max_rate"}
    assert {"200", "422", "4XX", "503"} == set(op["responses"])


def test_docs_page_serves_the_document(sidecar: Service) -> None:
    r = httpx.get(sidecar.http + "/docs", timeout=10)
    assert r.status_code == 200 and "swagger-ui" in r.text and "/openapi.json" in r.text


def test_the_documented_errors_are_what_requests_get(sidecar: Service) -> None:
    with push_socket(sidecar.zmq) as push:
        push.send(json.dumps({"type": "tick", "symbol": "ERR", "price": 1.5, "ts": time.time()}).encode())
        wait_until(lambda: httpx.get(sidecar.http + "/symbols/ERR", timeout=10).status_code == 200, 10,
                   message="ERR applied")
    for path in ("/symbols/NOPE", "/symbols/NOPE/history", "/symbols/NOPE/ohlc"):
        r = httpx.get(sidecar.http + path, timeout=10)
        assert r.status_code == 404 and r.json() == {"detail": [{
            "field": "path.symbol",
            "message": "unknown symbol 'NOPE': no tick or trade seen for it (GET /symbols lists them)"}]}, path
    for path in ("/symbols/bad$sym", "/symbols/bad$sym/ohlc"):
        r = httpx.get(sidecar.http + path, timeout=10)
        (error,) = r.json()["detail"]
        assert r.status_code == 404 and error["field"] == "path.symbol", path
        assert "not a valid symbol" in error["message"], path
    for params in ({"limit": "abc"}, {"limit": "0"}, {"timeframe": "1w"}, {"timeframe": ""}, {"limit": "2.5"}):
        r = httpx.get(sidecar.http + "/symbols/ERR/ohlc", params=params, timeout=10)
        assert r.status_code == 422, params
        (error,) = r.json()["detail"]
        assert set(error) == {"field", "message"}, error
        assert error["field"] == "query." + next(iter(params)), (params, error)
    assert httpx.get(sidecar.http + "/symbols/ERR/ohlc", params={"timeframe": "D1", "limit": 1},
                     timeout=10).json()["bars"][0]["close"] == 1.5
