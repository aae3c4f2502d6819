"""The Grafana dashboard and the metrics page: importable, and their PromQL names real metrics.

Every ``voxgate_*`` name in the dashboard's queries and in the code blocks of
docs/self-hosting/metrics.md must be a series voxgate exports (a histogram's ``_bucket``,
``_sum``, ``_count``; a counter's ``_total``), grouped and filtered by its own labels only: a
renamed metric or label fails here instead of leaving an empty panel or a silent alert. The
names are checked against ``SPEC`` and against the ``/metrics`` page of a freshly built app.
"""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "self-hosting"
DASHBOARD = DOCS / "grafana-dashboard.json"
METRICS_PAGE = DOCS / "metrics.md"

# The metrics voxgate exports: name -> (type, labels).
SPEC: dict[str, tuple[str, frozenset[str]]] = {
    "voxgate_requests_total": ("counter", frozenset({"route", "status"})),
    "voxgate_request_duration_seconds": ("histogram", frozenset({"route"})),
    "voxgate_engine_queue_depth": ("gauge", frozenset({"instance"})),
    "voxgate_engine_busy": ("gauge", frozenset({"instance"})),
    "voxgate_engine_rejected_total": ("counter", frozenset({"instance", "reason"})),
    "voxgate_engine_loaded": ("gauge", frozenset({"instance"})),
    "voxgate_engine_load_seconds": ("gauge", frozenset({"instance"})),
    "voxgate_audio_seconds_total": ("counter", frozenset({"instance", "direction"})),
    "voxgate_realtime_factor": ("histogram", frozenset({"instance"})),
    "voxgate_time_to_first_audio_seconds": ("histogram", frozenset({"instance"})),
    "voxgate_websocket_sessions": ("gauge", frozenset({"kind"})),
    "voxgate_upstream_request_duration_seconds": ("histogram", frozenset({"status"})),
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def series_of(name: str, kind: str) -> dict[str, str]:
    """The series names a metric appears under in the exposition format -> what each is."""
    if kind == "histogram":
        return {name + suffix: suffix for suffix in HISTOGRAM_SUFFIXES}
    if kind == "counter":
        base = name.removesuffix("_total")
        return {base + "_total": "_total", base + "_created": "_created"}
    return {name: ""}


SERIES: dict[str, tuple[str, str]] = {
    series: (metric, suffix)
    for metric, (kind, _) in SPEC.items()
    for series, suffix in series_of(metric, kind).items()
}

NAME = re.compile(r"(?<![\w$])voxgate_\w+")
BY_WITHOUT = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"[{,]\s*(\w+)\s*(?:=~|!~|!=|=)\s*\"")
RATE_OF = re.compile(r"\b(?:rate|irate|increase)\s*\(\s*(voxgate_\w+)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def code_blocks() -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced block of the metrics page."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(METRICS_PAGE.read_text("utf-8"))]


def page_exprs() -> list[str]:
    """The PromQL of the page: each ``promql`` block's expressions, each rule's ``expr``."""
    yaml = pytest.importorskip("yaml")
    exprs: list[str] = []
    for language, text in code_blocks():
        if language == "promql":
            # an expression starts at column 0; indented lines continue it
            for line in text.splitlines():
                if line.startswith((" ", "\t")) and exprs:
                    exprs[-1] += "\n" + line
                elif line.strip():
                    exprs.append(line)
        elif language in {"yaml", "yml"}:
            document = yaml.safe_load(text)
            for group in document.get("groups", ()) if isinstance(document, dict) else ():
                exprs += [str(rule["expr"]) for rule in group["rules"]]
    return exprs


def exprs_of(source: str) -> list[str]:
    return dashboard_exprs() if source == "dashboard" else page_exprs()


def names_of(source: str) -> set[str]:
    """The ``voxgate_*`` names in the dashboard's queries, or anywhere in the page's blocks."""
    if source == "dashboard":
        return {name for expr in dashboard_exprs() for name in NAME.findall(expr)}
    return {name for _, text in code_blocks() for name in NAME.findall(text)}


# -- the dashboard is importable --------------------------------------------------------------


def test_the_dashboard_is_a_grafana_dashboard():
    board = dashboard()
    assert board["title"]
    assert board["uid"]
    assert board.get("id") is None, "an exported id would overwrite another dashboard on import"
    assert 36 <= board["schemaVersion"] <= 41
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    instance = variables["instance"]
    assert instance["type"] == "query"
    assert instance["definition"] == "label_values(voxgate_engine_busy, instance)"
    assert instance["query"]["query"] == instance["definition"]


def test_every_panel_queries_prometheus_through_the_variable():
    panels = dashboard()["panels"]
    assert len(panels) >= 10
    ids = [panel["id"] for panel in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    titles = [panel["title"] for panel in panels]
    assert len(titles) == len(set(titles))
    source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for panel in panels:
        assert panel["type"] != "row", "rows hold no queries: keep the panels flat"
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], f"{panel['title']} has no queries"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source, panel["title"]
            assert target["expr"].strip(), f"{panel['title']}: empty expr"


def test_the_panels_tile_the_grid_without_overlapping():
    boxes = []
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["y"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, f"{panel['title']} is wider than the grid"
        boxes.append((panel["title"], pos))
    for (a, p), (b, q) in combinations(boxes, 2):
        apart = (
            p["x"] + p["w"] <= q["x"]
            or q["x"] + q["w"] <= p["x"]
            or p["y"] + p["h"] <= q["y"]
            or q["y"] + q["h"] <= p["y"]
        )
        assert apart, f"{a!r} and {b!r} overlap"


# -- the PromQL names real metrics -----------------------------------------------------------


def test_the_page_has_promql_and_a_rules_file():
    languages = [language for language, _ in code_blocks()]
    assert "promql" in languages
    assert "yaml" in languages
    exprs = page_exprs()
    assert any("histogram_quantile" in expr for expr in exprs)
    assert sum(1 for expr in exprs if NAME.search(expr)) >= 10


@pytest.mark.parametrize("source", ["dashboard", "metrics.md"])
def test_every_metric_name_is_one_voxgate_exports(source: str):
    unknown = sorted(names_of(source) - SERIES.keys())
    assert not unknown, f"{source} queries series voxgate does not export: {unknown}"


@pytest.mark.parametrize("source", ["dashboard", "metrics.md"])
def test_every_query_uses_its_metrics_labels(source: str):
    for expr in exprs_of(source):
        names = NAME.findall(expr)
        if not names:
            continue  # `up{job="voxgate"}`: Prometheus's own labels
        allowed = {"le"}.union(*(SPEC[SERIES[name][0]][1] for name in names))
        used = {label.strip() for group in BY_WITHOUT.findall(expr) for label in group.split(",")}
        used |= set(MATCHER.findall(expr))
        used.discard("")
        assert used <= allowed, f"{source}: labels {sorted(used - allowed)} in {expr!r}"


@pytest.mark.parametrize("source", ["dashboard", "metrics.md"])
def test_queries_use_each_metric_as_its_type_allows(source: str):
    for expr in exprs_of(source):
        for name in RATE_OF.findall(expr):
            metric, suffix = SERIES[name]
            kind = SPEC[metric][0]
            assert kind != "gauge", f"{source}: rate() of the gauge {name} in {expr!r}"
            assert suffix != "_created", expr
        for name in NAME.findall(expr):
            metric, suffix = SERIES[name]
            if suffix == "_bucket":
                assert "histogram_quantile" in expr, f"{source}: raw buckets in {expr!r}"
        if "histogram_quantile" in expr:
            assert "_bucket" in expr, f"{source}: histogram_quantile without buckets: {expr!r}"
            assert re.search(r"\bby\s*\([^)]*\ble\b", expr), f"{source}: `le` dropped: {expr!r}"
        depth = 0
        for char in expr:
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0, expr
        assert depth == 0, f"{source}: unbalanced parentheses in {expr!r}"
        assert expr.count("{") == expr.count("}"), expr


def test_the_page_explains_every_metric():
    page = METRICS_PAGE.read_text(encoding="utf-8")
    missing = [name for name in SPEC if f"`{name}`" not in page]
    assert not missing, f"docs/self-hosting/metrics.md does not explain {missing}"


# -- the names are those a running app exports -----------------------------------------------


async def exported_families(plugins) -> dict[str, object]:
    """The ``voxgate_*`` families of a fresh app's ``/metrics``, after one speech request."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.conftest import FAKE_TOML
    from voxgate.testing import app_client

    body = {"model": "tts-1", "voice": "tone", "input": "One two.", "response_format": "wav"}
    async with app_client(FAKE_TOML, plugins) as client:
        assert (await client.post("/v1/audio/speech", json=body)).status_code == 200
        response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        family.name: family
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith("voxgate_")
    }


def exported_series(families: dict) -> set[str]:
    """Every series name the families stand for (the text format's own ``_created`` families
    of counters and histograms are folded into their metric)."""
    return {
        series
        for name, family in families.items()
        if not (name.endswith("_created") and family.type == "gauge")
        for series in series_of(name, family.type)
    }


async def test_the_spec_is_what_the_app_exports(plugins):
    families = await exported_families(plugins)
    assert exported_series(families) == set(SERIES)
    for name, family in families.items():
        if name.endswith("_created"):
            continue
        metric = name if name in SPEC else name + "_total"  # the parser drops a counter's _total
        assert family.type == SPEC[metric][0], name
        labels = {frozenset(sample.labels) - {"le"} for sample in family.samples}
        assert labels <= {SPEC[metric][1]}, f"{name}: {labels}"
    busy = families["voxgate_engine_busy"]
    # the dashboard's `instance` variable: label_values(voxgate_engine_busy, instance)
    assert {sample.labels["instance"] for sample in busy.samples} == {"fake-stt", "tone"}


@pytest.mark.parametrize("source", ["dashboard", "metrics.md"])
async def test_every_queried_series_is_on_the_metrics_page(plugins, source: str):
    exported = exported_series(await exported_families(plugins))
    used = names_of(source)
    assert used
    missing = sorted(used - exported)
    assert not missing, f"{source} queries series a fresh app does not export: {missing}"
