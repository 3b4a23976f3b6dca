#!/usr/bin/env python3
"""The SRE's desk in deploy/, checked (run by the test suite: services/yimen/tests/deploy.rs).

- prometheus/rules.yaml: `promtool check rules` and `promtool test rules prometheus/rules.test.yaml`
  (promtool from Debian's prometheus package, unpacked into .tools/ by `make test`, or $PROMTOOL);
  every alert named in the issue is there, with a severity, a summary, a description and a
  runbook_url leading to its own heading in the README.
- grafana/yimen.json: parses; the datasources are the dashboard's variables; every latency panel
  shows exemplars and links to the trace datasource, which grafana/datasources.yaml wires as the
  exemplars' trace_id destination; every metric of metrics.txt has a panel.
- Both: every metric and label a query names is one of metrics.txt (histograms as _bucket, _sum,
  _count), so a renamed metric fails here instead of showing an empty panel or a silent alert.
- otel/collector.yaml: OTLP in on 4317 (gRPC) and 4318 (HTTP); traces and metrics pipelines
  that use only components defined in the file, of known types, batched; nothing defined unused.

Prints one line per check, then "deploy-check: N passed, M failed"; exits 1 if any failed.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "helm"))
from tally import finish, report  # noqa: E402

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
PROMTOOL = Path(os.environ.get("PROMTOOL") or ROOT / ".tools/prometheus/usr/bin/promtool")

# The alerts the issue asks for (outbox growing, dead letters, consumer stalled, error rate,
# overdue cases), whatever else rules.yaml holds.
REQUIRED_ALERTS = {"YimenOutboxGrowing", "YimenMessagesDeadLettered", "YimenConsumerStalled",
                   "YimenHighErrorRate", "YimenCasesOverdue"}
# Series Prometheus itself makes, and the labels it adds to every scraped one.
PROMETHEUS_SERIES = {"ALERTS": {"alertname", "alertstate"}}
PROMETHEUS_LABELS = {"job", "instance", "le"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "inf", "nan"}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# Collector component types this config may use (the contrib distribution's).
COLLECTOR_TYPES = {
    "receivers": {"otlp"},
    "processors": {"batch", "memory_limiter", "resource", "attributes", "filter"},
    "exporters": {"otlp", "otlphttp", "prometheusremotewrite", "prometheus", "debug"},
    "extensions": {"health_check", "pprof", "zpages"},
}

def known_metrics() -> dict[str, tuple[str, set[str]]]:
    """metrics.txt: name → (type, labels)."""
    metrics = {}
    for line in (DEPLOY / "metrics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, *labels = line.split()
            metrics[name] = (kind, set(labels))
    return metrics


def series_of(metrics: dict) -> dict[str, set[str]]:
    """Every series name a query may use → its labels."""
    series = dict(PROMETHEUS_SERIES)
    for name, (kind, labels) in metrics.items():
        if kind == "histogram":
            series |= {name + suffix: labels for suffix in HISTOGRAM_SERIES}
        else:
            series[name] = labels
    return series


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """The series names and the label names a PromQL expression (perhaps with Grafana's
    $variables) uses."""
    e = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)  # strings
    labels = set()
    for matchers in re.findall(r"\{([^}]*)\}", e):
        labels |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges
    for _, group in re.findall(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", e):
        labels |= {g.strip() for g in group.split(",") if g.strip()}
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", e):
        if e[m.end():].lstrip().startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue  # a function or an aggregation, or a keyword
        names.add(m.group(0))
    return names, labels


def query_problems(expr: str, series: dict[str, set[str]]) -> list[str]:
    names, labels = names_in(expr)
    problems = [f"unknown metric {n}" for n in sorted(names - series.keys())]
    allowed = PROMETHEUS_LABELS.union(*(series[n] for n in names if n in series)) if names else PROMETHEUS_LABELS
    problems += [f"label {label} is on none of {sorted(names)}" for label in sorted(labels - allowed)]
    if not names:
        problems.append("no metric")
    return problems


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def check_rules(series: dict) -> None:
    rules_dir = DEPLOY / "prometheus"
    if not PROMTOOL.exists():
        report(False, "promtool", f"{PROMTOOL} is missing: `make tools` (or `make test`) unpacks it from "
                                  "Debian's prometheus package; or set PROMTOOL")
    else:
        for args in (["check", "rules", "rules.yaml"], ["test", "rules", "rules.test.yaml"]):
            run = subprocess.run([str(PROMTOOL), *args], cwd=rules_dir, capture_output=True, text=True)
            report(run.returncode == 0, f"promtool {' '.join(args)}", run.stdout + run.stderr)
    groups = yaml.safe_load((rules_dir / "rules.yaml").read_text())["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    names = {a["alert"] for a in alerts}
    report(REQUIRED_ALERTS <= names, "rules.yaml has the alerts the issue names",
           f"missing {sorted(REQUIRED_ALERTS - names)}")
    tested = yaml.safe_load((rules_dir / "rules.test.yaml").read_text())
    fired = {t["alertname"] for test in tested["tests"] for t in test.get("alert_rule_test", [])
             if t.get("exp_alerts")}
    report(names <= fired, "rules.test.yaml sees every alert fire", f"never fired: {sorted(names - fired)}")
    readme = (ROOT / "README.md").read_text()
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    for alert in alerts:
        problems = query_problems(alert["expr"], series)
        if alert.get("labels", {}).get("severity") not in ("warning", "critical"):
            problems.append("severity is neither warning nor critical")
        notes = alert.get("annotations", {})
        problems += [f"no {k}" for k in ("summary", "description", "runbook_url") if not notes.get(k)]
        anchor = notes.get("runbook_url", "").partition("README.md#")[2]
        if anchor != alert["alert"].lower() or anchor not in anchors:
            problems.append(f"runbook_url {notes.get('runbook_url')!r} leads to no README heading {alert['alert']}")
        report(not problems, f"rules.yaml  {alert['alert']}", "; ".join(problems))


def check_dashboard(metrics: dict, series: dict) -> None:
    try:
        dashboard = json.loads((DEPLOY / "grafana/yimen.json").read_text())
    except json.JSONDecodeError as e:
        report(False, "grafana/yimen.json parses", str(e))
        return
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource_vars = {f"${{{n}}}": v["query"] for n, v in variables.items() if v["type"] == "datasource"}
    report(datasource_vars.get("${datasource}") == "prometheus" and datasource_vars.get("${trace_datasource}") in ("tempo", "jaeger"),
           "yimen.json has a Prometheus and a trace datasource variable", f"has {datasource_vars}")
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    panels += [p for row in dashboard["panels"] if row["type"] == "row" for p in row.get("panels", [])]
    used = set()
    queries = [("variable " + n, v["query"]["query"], v["datasource"]) for n, v in variables.items() if v["type"] == "query"]
    queries += [("annotation " + a["name"], a["expr"], a["datasource"]) for a in dashboard["annotations"]["list"]]
    for p in panels:
        queries += [(p["title"], t["expr"], t.get("datasource", p.get("datasource"))) for t in p["targets"]]
    for what, expr, datasource in queries:
        expr = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", expr)
        problems = query_problems(expr, series)
        if (datasource or {}).get("uid") != "${datasource}":
            problems.append(f"datasource {datasource} is not the ${{datasource}} variable")
        used |= names_in(expr)[0]
        report(not problems, f"yimen.json  {what}", "; ".join(problems))
    for p in panels:
        exprs = [t["expr"] for t in p["targets"]]
        if not any("histogram_quantile" in e for e in exprs):
            continue
        links = p.get("fieldConfig", {}).get("defaults", {}).get("links", [])
        problems = [] if all(t.get("exemplar") for t in p["targets"]) else ["exemplars off"]
        if not any("${trace_datasource}" in link.get("url", "") for link in links):
            problems.append("no link to ${trace_datasource}")
        report(not problems, f"yimen.json  {p['title']}: exemplars and a trace link", "; ".join(problems))
    unused = sorted(n for n, (kind, _) in metrics.items()
                    if not ({n} | {n + s for s in HISTOGRAM_SERIES}) & used)
    report(not unused, "yimen.json shows every metric", f"no panel for {unused}")
    sources = yaml.safe_load((DEPLOY / "grafana/datasources.yaml").read_text())["datasources"]
    traces = {d["uid"] for d in sources if d["type"] in ("tempo", "jaeger")}
    destinations = [d for s in sources if s["type"] == "prometheus"
                    for d in s.get("jsonData", {}).get("exemplarTraceIdDestinations", [])]
    report(any(d["name"] == "trace_id" and d.get("datasourceUid") in traces for d in destinations),
           "datasources.yaml opens exemplars' trace_id in the trace datasource", f"destinations {destinations}")


def check_collector() -> None:
    config = yaml.safe_load((DEPLOY / "otel/collector.yaml").read_text())
    otlp = config.get("receivers", {}).get("otlp", {}).get("protocols", {})
    report(otlp.get("grpc", {}).get("endpoint", "").endswith(":4317")
           and otlp.get("http", {}).get("endpoint", "").endswith(":4318"),
           "collector.yaml receives OTLP on 4317 (gRPC) and 4318 (HTTP)", f"protocols {otlp}")
    problems = []
    for section, types in COLLECTOR_TYPES.items():
        for name in config.get(section) or {}:
            if name.split("/")[0] not in types:
                problems.append(f"{section}.{name}: unknown type")
    service = config["service"]
    pipelines = service.get("pipelines", {})
    if {p.split("/")[0] for p in pipelines} != {"traces", "metrics"}:
        problems.append(f"pipelines {sorted(pipelines)}, not traces and metrics")
    referenced = {("extensions", e) for e in service.get("extensions", [])}
    for name, pipeline in pipelines.items():
        if "batch" not in [p.split("/")[0] for p in pipeline.get("processors", [])]:
            problems.append(f"pipeline {name} is not batched")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"pipeline {name} lacks receivers or exporters")
        for section in ("receivers", "processors", "exporters"):
            referenced |= {(section, c) for c in pipeline.get(section, [])}
    defined = {(s, c) for s in COLLECTOR_TYPES for c in config.get(s) or {}}
    problems += [f"{s}.{c} is used but not defined" for s, c in sorted(referenced - defined)]
    problems += [f"{s}.{c} is defined but unused" for s, c in sorted(defined - referenced)]
    report(not problems, "collector.yaml pipelines use only defined components", "; ".join(problems))


def main() -> int:
    metrics = known_metrics()
    series = series_of(metrics)
    check_rules(series)
    check_dashboard(metrics, series)
    check_collector()
    return finish("deploy-check")


if __name__ == "__main__":
    sys.exit(main())
