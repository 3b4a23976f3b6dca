#!/usr/bin/env python3
"""`make helm-check`: the yimen chart, checked with no helm binary, no docker and no cluster.

1. Lints the chart (Helm's own Go SDK, through helm-python-sdk) with each helm/yimen/ci/*.yaml
   (ci/default-values.yaml: the defaults plus the token keys, which have none); an error or a
   warning fails.
2. Renders it with each of those and validates every object against the Kubernetes 1.30 schema
   in strict mode (kubernetes-validate), so a misplaced or misspelt field fails, not only a wrong
   type; the ServiceMonitor, a custom resource, against deploy/helm/servicemonitor.schema.json
   (the CRD's fields the chart writes, closed likewise). On top: one Deployment and one Service
   per enabled service, gRPC probes, the restricted security settings the chart promises on
   every pod, the token keys on every service, the data keys on the services that seal personal
   data and on no other, a yimen.toml that parses, and the production pieces wired together:
   each pod's metrics endpoint behind its Service's `metrics` port (and the ServiceMonitor
   selecting those), a HorizontalPodAutoscaler owning the replicas of each autoscaled service,
   a PodDisruptionBudget for each service kept above one replica, topology spread over this
   service's own pods, NetworkPolicies admitting the gRPC and metrics ports, and a `helm test`
   Pod asking each Service for readiness.
3. Renders with misspelt values, which values.schema.json must refuse, and with the chart's bare
   defaults (no token keys), no data keys and unusable keys or policy, which the templates must
   refuse.

Prints one line per check and then "helm-check: N passed, M failed"; exits 1 if any failed.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml
from tally import finish, report

CHART = Path(__file__).resolve().parents[2] / "helm" / "yimen"
KUBE_VERSION = "1.30.0"
RELEASE = NAMESPACE = "yimen"

# Each must fail to render, and the error must name the misspelt key.
MISSPELT_VALUES = [
    ({"replicaCoutn": 2}, "replicaCoutn"),
    ({"services": {"intake": {"enabled": True, "port": 50051, "replica": 2}}}, "replica"),
    ({"config": {"dispatch": {"accept_dayz": 7}}}, "accept_dayz"),
]

# Each must fail to render with a message containing the text: services would not start with it.
PUBLIC_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
JWKS = json.dumps({"keys": [PUBLIC_JWK]})
# A data key file for rendering only (all-zero key).
DATA_KEYS = json.dumps({"algorithm": "aes-256-gcm", "current": 1, "lookup_key": "AQEBAQEBAQEBAQEBAQEBAQ==",
                        "keys": [{"id": 1, "created_at": "2026-01-01T00:00:00Z", "key": "A" * 43 + "="}]})
WITH_DATA_KEYS = {"security": {"dataKeys": DATA_KEYS}}
REFUSED_VALUES = [
    ("the chart's bare defaults (no token or data keys)", None, "is required"),
    ("no token keys", WITH_DATA_KEYS, "auth.jwks is required"),
    ("a JWKS that is not JSON", {"auth": {"jwks": "-----BEGIN PRIVATE KEY-----"}} | WITH_DATA_KEYS,
     "auth.jwks is not JSON"),
    ("a JWKS without keys", {"auth": {"jwks": '{"keys": []}'}} | WITH_DATA_KEYS, "auth.jwks has no keys"),
    ("a private JWK", {"auth": {"jwks": json.dumps({"keys": [PUBLIC_JWK | {"d": "secret"}]})}} | WITH_DATA_KEYS,
     "auth.jwks holds a private key"),
    ("mTLS without the servers' certificate",
     {"auth": {"jwks": JWKS}, "tls": {"clientCaSecret": "callers-ca"}} | WITH_DATA_KEYS,
     "tls.clientCaSecret (mTLS) needs tls.serverSecret"),
    ("a policy that is not JSON", {"auth": {"jwks": JWKS, "policy": "allow: all"}} | WITH_DATA_KEYS,
     "auth.policy is not JSON"),
    ("no data keys", {"auth": {"jwks": JWKS}}, "security.dataKeys is required"),
    ("a departments file source without a file",
     {"auth": {"jwks": JWKS}, "departments": {"source": "file"}} | WITH_DATA_KEYS,
     "departments.source is file but neither departments.file nor departments.existingConfigMap"),
    ("data keys that are not JSON", {"auth": {"jwks": JWKS}, "security": {"dataKeys": "AAAA"}},
     "security.dataKeys is not JSON"),
    ("data keys without a key", {"auth": {"jwks": JWKS}, "security": {"dataKeys": '{"keys": []}'}},
     "security.dataKeys holds no key"),
    ("data keys of another algorithm",
     {"auth": {"jwks": JWKS},
      "security": {"algorithm": "sm4-gcm", "dataKeys": DATA_KEYS}},
     "security.dataKeys holds aes-256-gcm keys but security.algorithm is sm4-gcm"),
]
AUTH_DIR = "/etc/yimen/auth"
KEYS_DIR = "/etc/yimen/keys"
# The services that keep sealed personal data: only their pods get the data keys.
SEALING = {"intake", "mediation"}

# Custom resources, which kubernetes-validate has no schema for: each against a schema file here.
CUSTOM_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): Path(__file__).with_name("servicemonitor.schema.json"),
}

def value_sets() -> list[tuple[str, dict]]:
    """(label, values) of each ci file; the bare defaults are in REFUSED_VALUES."""
    return [
        (f"ci/{path.name}", helm.values_from_yaml(path.read_text()) or {})
        for path in sorted((CHART / "ci").glob("*.yaml"))
    ]


def lint(label: str, values: dict | None) -> None:
    result = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    # severity: 1 info ("icon is recommended"), 2 warning, 3 error; strict counts warnings.
    problems = [f"{m['path']}: {m['error'].strip()}" for m in result["messages"] if m["severity"] >= 2]
    problems += [e.strip() for e in result["errors"] if not any(e.strip() in p for p in problems)]
    report(not problems, f"{label}  lint", "; ".join(problems))


def pod_problems(obj: dict, values: dict) -> list[str]:
    """What breaks the chart's promises for a workload's pods: least privilege and probes."""
    if obj["kind"] not in ("Deployment", "Job", "Pod"):
        return []
    pod = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
    problems = []
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        problems.append("pod: runAsNonRoot is not true")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod: seccompProfile is not RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("pod: service account token mounted")
    for c in pod["containers"]:
        name = c["name"]
        security = c.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem writable")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: privilege escalation allowed")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities not dropped")
        resources = c.get("resources", {})
        if not resources.get("requests") or not resources.get("limits"):
            problems.append(f"{name}: no resource requests and limits")
        if obj["kind"] == "Deployment":
            problems += probe_problems(c, values)
        if obj["kind"] != "Pod":  # the test Pods pass their TLS files as flags (test_pod_problems)
            problems += tls_problems(c, values, server=obj["kind"] == "Deployment")
    return problems


def probe_problems(c: dict, values: dict) -> list[str]:
    """Plaintext: gRPC probes, readiness asking for 'readiness'. TLS: `yimen healthcheck` over
    https with the server's CA and the Service's name (and the probe's certificate under mTLS)."""
    name, tls = c["name"], values["tls"]
    problems = []
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = c.get(probe, {})
        want = "readiness" if probe == "readinessProbe" else "liveness"
        if not tls["serverSecret"]:
            if "grpc" not in spec:
                problems.append(f"{name}: no gRPC {probe}")
            elif (spec["grpc"].get("service") == "readiness") != (want == "readiness"):
                problems.append(f"{name}: {probe} asks for {spec['grpc'].get('service')!r}")
            continue
        command = spec.get("exec", {}).get("command", [])
        flags = dict(zip(command[2::2], command[3::2])) if command[1:2] == ["healthcheck"] else {}
        expected = {
            "--target": name,
            "--probe": want,
            "--server-name": f"{RELEASE}-{name}",
            "--ca-file": "/etc/yimen/tls/server/ca.crt",
        }
        if tls["clientCaSecret"]:
            expected |= {"--cert-file": "/etc/yimen/tls/probe/tls.crt",
                         "--key-file": "/etc/yimen/tls/probe/tls.key"}
        wrong = {k: flags.get(k) for k, v in expected.items() if flags.get(k) != v}
        if not flags.get("--addr", "").startswith("https://127.0.0.1:") or wrong:
            problems.append(f"{name}: {probe} is not a TLS healthcheck ({command}; wrong: {wrong})")
    return problems


# Each file a TLS setting names, by the Secret it comes from: (values key, env var, file).
TLS_FILES = [
    ("serverSecret", "YIMEN__SERVER__TLS__CERT_FILE", "/etc/yimen/tls/server/tls.crt", True),
    ("serverSecret", "YIMEN__SERVER__TLS__KEY_FILE", "/etc/yimen/tls/server/tls.key", True),
    ("clientCaSecret", "YIMEN__SERVER__TLS__CLIENT_CA_FILE", "/etc/yimen/tls/client-ca/ca.crt", True),
    ("busSecret", "YIMEN__BUS__TLS__CA_FILE", "/etc/yimen/tls/bus/ca.crt", False),
]


def tls_problems(c: dict, values: dict, server: bool) -> list[str]:
    """Each TLS setting is given exactly when its Secret is, and points into a read-only mount of
    that Secret; the database CA is mounted where the README tells the URL to point."""
    tls, name = values["tls"], c["name"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    problems = []
    files = [f for f in TLS_FILES if server or not f[3]]
    if tls["busSecret"] and tls["busClientCertificate"]:
        files += [("busSecret", "YIMEN__BUS__TLS__CERT_FILE", "/etc/yimen/tls/bus/tls.crt", False),
                  ("busSecret", "YIMEN__BUS__TLS__KEY_FILE", "/etc/yimen/tls/bus/tls.key", False)]
    for key, var, path, _ in files:
        if not tls[key]:
            if var in env:
                problems.append(f"{name}: {var} set without tls.{key}")
            continue
        if env.get(var) != path:
            problems.append(f"{name}: {var} is {env.get(var)!r}, not {path}")
        mount = mounts.get(path.rsplit("/", 1)[0])
        if not mount or not mount.get("readOnly"):
            problems.append(f"{name}: {path} is not in a read-only mount")
    if tls["databaseCaSecret"] and not mounts.get("/etc/yimen/tls/database", {}).get("readOnly"):
        problems.append(f"{name}: no read-only mount of the database CA")
    return problems


def auth_problems(obj: dict, values: dict) -> list[str]:
    """Every service must find the token keys (and the policy, when given) where its env points."""
    if obj["kind"] != "Deployment":
        return []
    auth = values["auth"]
    want_env = {
        "YIMEN__AUTH__VERIFY_KEYS_FILE": f"{AUTH_DIR}/jwks.json",
        "YIMEN__AUTH__ISSUER": auth["issuer"],
        "YIMEN__AUTH__AUDIENCE": auth["audience"],
        "YIMEN__AUTH__LEEWAY_SECS": str(auth["leewaySecs"]),
    }
    want_files = {"jwks.json"}
    if auth["policy"] or auth["existingPolicyConfigMap"]:
        want_env["YIMEN__AUTH__POLICY_FILE"] = f"{AUTH_DIR}/policy.json"
        want_files.add("policy.json")
    pod = obj["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    problems = []
    for c in pod["containers"]:
        name = c["name"]
        env = {e["name"]: e.get("value") for e in c.get("env", []) if e["name"].startswith("YIMEN__AUTH__")}
        if env != want_env:
            problems.append(f"{name}: auth env {env} is not {want_env}")
        mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"] == AUTH_DIR]
        if len(mounts) != 1 or not mounts[0].get("readOnly"):
            problems.append(f"{name}: no read-only mount at {AUTH_DIR}")
            continue
        sources = volumes.get(mounts[0]["name"], {}).get("projected", {}).get("sources", [])
        files = {item["path"] for src in sources for kind in ("secret", "configMap")
                 for item in src.get(kind, {}).get("items", [])}
        if files != want_files:
            problems.append(f"{name}: {AUTH_DIR} holds {sorted(files)}, not {sorted(want_files)}")
    return problems


def security_problems(obj: dict, values: dict) -> list[str]:
    """The sealing services, and only they, find the data key file where their env points."""
    if obj["kind"] != "Deployment":
        return []
    component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
    pod = obj["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    want_env = {
        "YIMEN__SECURITY__DATA_KEY_FILE": f"{KEYS_DIR}/data.json",
        "YIMEN__SECURITY__ALGORITHM": values["security"]["algorithm"],
    } if component in SEALING else {}
    problems = []
    for c in pod["containers"]:
        name = c["name"]
        env = {e["name"]: e.get("value") for e in c.get("env", []) if e["name"].startswith("YIMEN__SECURITY__")}
        if env != want_env:
            problems.append(f"{name}: security env {env} is not {want_env}")
        mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"] == KEYS_DIR]
        if component not in SEALING:
            if mounts:
                problems.append(f"{name}: given the data keys, which it does not need")
            continue
        if len(mounts) != 1 or not mounts[0].get("readOnly"):
            problems.append(f"{name}: no read-only mount at {KEYS_DIR}")
            continue
        items = volumes.get(mounts[0]["name"], {}).get("secret", {}).get("items", [])
        if [i["path"] for i in items] != ["data.json"]:
            problems.append(f"{name}: {KEYS_DIR} does not hold data.json from a Secret")
    return problems


def departments_problems(obj: dict, values: dict) -> list[str]:
    """The migration Job joins the departments the values name, from where they are mounted."""
    if obj["kind"] != "Job":
        return []
    c = obj["spec"]["template"]["spec"]["containers"][0]
    args = c.get("args", [])
    given = args[args.index("--departments") + 1] if "--departments" in args else None
    source = values["departments"]["source"]
    want = None
    if source != "none" and values["services"]["dispatch"]["enabled"]:
        want = "builtin" if source == "builtin" else "/etc/yimen/departments/departments.toml"
    if given != want:
        return [f"migrate --departments is {given!r}, not {want!r}"]
    if want and want.startswith("/"):
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        if not mounts.get("/etc/yimen/departments", {}).get("readOnly"):
            return ["the departments file is not in a read-only mount"]
    return []


def config_problems(obj: dict) -> list[str]:
    """The ConfigMap's yimen.toml must parse, with whole numbers: the binary's counts are integers.
    The policy's ConfigMap must hold JSON."""
    if obj["kind"] != "ConfigMap":
        return []
    if "departments.toml" in obj.get("data", {}):
        try:
            departments = tomllib.loads(obj["data"]["departments.toml"]).get("department", [])
        except tomllib.TOMLDecodeError as e:
            return [f"departments.toml: {e}"]
        return [] if departments else ["departments.toml: no [[department]]"]
    if "policy.json" in obj.get("data", {}):
        try:
            json.loads(obj["data"]["policy.json"])
            return []
        except json.JSONDecodeError as e:
            return [f"policy.json: {e}"]
    try:
        config = tomllib.loads(obj["data"]["yimen.toml"])
    except (KeyError, tomllib.TOMLDecodeError) as e:
        return [f"yimen.toml: {e}"]
    return [
        f"yimen.toml: {section}.{key} = {value} is not an integer"
        for section, table in config.items()
        for key, value in table.items()
        if isinstance(value, float) and (section, key) not in FRACTIONS
    ]


# The settings that are fractions by nature; every other number the binary reads is a count.
FRACTIONS = {("intake", "same_matter_similarity")}


def component_of(obj: dict) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def service_settings(merged: dict, name: str) -> dict:
    """A service's settings as the templates see them: its own keys over `defaults`."""
    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        return out
    return merge(merged["defaults"], merged["services"][name])


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def metrics_problems(objects: list[dict], merged: dict) -> list[str]:
    """Each pod serves its metrics where its Service's `metrics` port leads, or serves none; the
    ServiceMonitor (when asked for) selects every yimen Service and scrapes that port."""
    metrics = merged["metrics"]
    services = {component_of(o): o for o in objects if o["kind"] == "Service"}
    problems = []
    for d in (o for o in objects if o["kind"] == "Deployment"):
        name = component_of(d)
        c = d["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        listen = env.get("YIMEN__TELEMETRY__METRICS_LISTEN")
        ports = {p["name"]: p for p in c.get("ports", [])}
        service = services.get(name, {})
        service_ports = {p["name"]: p for p in service.get("spec", {}).get("ports", [])}
        annotations = service.get("metadata", {}).get("annotations") or {}
        if not metrics["enabled"]:
            if listen != "":
                problems.append(f"{name}: metrics disabled but METRICS_LISTEN is {listen!r}")
            if "metrics" in ports or "metrics" in service_ports:
                problems.append(f"{name}: metrics disabled but a metrics port is exposed")
            continue
        port = service_settings(merged, name).get("metricsPort", metrics["port"])
        if listen != f"0.0.0.0:{port}":
            problems.append(f"{name}: METRICS_LISTEN is {listen!r}, not 0.0.0.0:{port}")
        if ports.get("metrics", {}).get("containerPort") != port:
            problems.append(f"{name}: no container port `metrics` {port}")
        sp = service_ports.get("metrics", {})
        if sp.get("port") != port or sp.get("targetPort") != "metrics":
            problems.append(f"{name}: its Service has no port `metrics` {port} → metrics")
        want = ({"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}
                if metrics["serviceAnnotations"] else {})
        got = {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")}
        if got != want:
            problems.append(f"{name}: Service annotations {got}, not {want}")
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    if not metrics["serviceMonitor"]["enabled"]:
        return problems + ([f"{len(monitors)} ServiceMonitor(s) though not enabled"] if monitors else [])
    if len(monitors) != 1:
        return problems + [f"{len(monitors)} ServiceMonitors, not one"]
    spec = monitors[0]["spec"]
    if [e.get("port") for e in spec.get("endpoints", [])] != ["metrics"]:
        problems.append(f"ServiceMonitor endpoints {spec.get('endpoints')} do not scrape `metrics`")
    if spec.get("namespaceSelector", {}).get("matchNames") != [NAMESPACE]:
        problems.append("ServiceMonitor does not look in the release's namespace")
    for name, service in services.items():
        if not selects(spec["selector"], service["metadata"]["labels"]):
            problems.append(f"ServiceMonitor does not select the {name} Service")
    missing = set(merged["metrics"]["serviceMonitor"]["labels"].items()) - set(monitors[0]["metadata"]["labels"].items())
    if missing:
        problems.append(f"ServiceMonitor lacks the labels {dict(missing)}")
    return problems


def scaling_problems(objects: list[dict], merged: dict) -> list[str]:
    """An autoscaled service's Deployment leaves its replicas to one HPA aimed at it; the others
    keep theirs and have none. Each service kept above one replica has a PodDisruptionBudget
    selecting its pods (and no other has one). Topology spread, when on, spreads this service's
    own pods over each key."""
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    problems = []
    for d in (o for o in objects if o["kind"] == "Deployment"):
        name, deployment = component_of(d), d["metadata"]["name"]
        svc = service_settings(merged, name)
        auto = svc["autoscaling"]
        hpa = hpas.pop(deployment, None)
        if auto["enabled"]:
            if "replicas" in d["spec"]:
                problems.append(f"{name}: autoscaled, yet its Deployment sets replicas")
            if not hpa or hpa["spec"]["scaleTargetRef"]["kind"] != "Deployment":
                problems.append(f"{name}: autoscaled, but no HPA targets its Deployment")
            elif (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) != (auto["minReplicas"], auto["maxReplicas"]):
                problems.append(f"{name}: HPA bounds {hpa['spec']['minReplicas']}..{hpa['spec']['maxReplicas']}")
            least = auto["minReplicas"]
        else:
            if hpa:
                problems.append(f"{name}: an HPA though autoscaling is off")
            if d["spec"].get("replicas") != svc["replicas"]:
                problems.append(f"{name}: replicas {d['spec'].get('replicas')}, not {svc['replicas']}")
            least = svc["replicas"]
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        budgeted = [b for b in budgets if selects(b["spec"]["selector"], pod_labels)]
        want = merged["podDisruptionBudget"]["enabled"] and least > 1
        if want and len(budgeted) != 1:
            problems.append(f"{name}: {len(budgeted)} PodDisruptionBudgets select its pods, not one")
        if not want and budgeted:
            problems.append(f"{name}: a PodDisruptionBudget though it keeps {least} replica(s)")
        spread = d["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        if svc["topologySpread"]["enabled"]:
            keys = [s["topologyKey"] for s in spread]
            if keys != svc["topologySpread"]["topologyKeys"]:
                problems.append(f"{name}: spread over {keys}")
            for s in spread:
                if s["labelSelector"] != d["spec"]["selector"] or "pod-template-hash" not in s.get("matchLabelKeys", []):
                    problems.append(f"{name}: a spread constraint not selecting its own rollout's pods")
        elif spread:
            problems.append(f"{name}: spread constraints though topologySpread is off")
    problems += [f"an HPA targets {n}, which is no Deployment" for n in hpas]
    return problems


def test_pod_problems(objects: list[dict], merged: dict) -> list[str]:
    """`helm test`: one hook Pod per enabled service asking its Service for readiness, as a
    caller does (over TLS, trusting the servers' CA and naming the Service, when TLS is on)."""
    pods = [o for o in objects if o["kind"] == "Pod"]
    if not merged["tests"]["enabled"]:
        return [f"{len(pods)} test Pod(s) though tests are off"] if pods else []
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    tls = merged["tls"]
    asked = []
    problems = []
    for pod in pods:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("annotations", {}).get("helm.sh/hook") != "test":
            problems.append(f"{name}: not a test hook")
        args = pod["spec"]["containers"][0].get("args", [])
        flags = dict(zip(args[1::2], args[2::2])) if args[:1] == ["healthcheck"] else {}
        m = re.fullmatch(r"(https?)://([^:/]+):(\d+)", flags.get("--addr", ""))
        service = services.get(m.group(2)) if m else None
        if not service or component_of(service) != flags.get("--target") or flags.get("--probe") != "readiness":
            problems.append(f"{name}: {args} does not ask a yimen Service for readiness")
            continue
        grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        if int(m.group(3)) != grpc["port"]:
            problems.append(f"{name}: port {m.group(3)}, not the Service's {grpc['port']}")
        want = {}
        if tls["serverSecret"]:
            want = {"--server-name": m.group(2), "--ca-file": "/etc/yimen/tls/server/ca.crt"}
            if tls["clientCaSecret"]:
                want |= {"--cert-file": "/etc/yimen/tls/probe/tls.crt", "--key-file": "/etc/yimen/tls/probe/tls.key"}
        if (m.group(1) == "https") != bool(tls["serverSecret"]) or any(flags.get(k) != v for k, v in want.items()):
            problems.append(f"{name}: {args} does not call as the servers' TLS asks")
        asked.append(flags["--target"])
    enabled = sorted(n for n, s in merged["services"].items() if s["enabled"])
    if sorted(asked) != enabled:
        problems.append(f"test Pods ask {sorted(asked)}, not {enabled}")
    return problems


def network_policy_problems(objects: list[dict], merged: dict) -> list[str]:
    """With the policy on, each service's pods admit their gRPC port (from networkPolicy.from)
    and their metrics port (from metricsFrom) and nothing else."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    np = merged["networkPolicy"]
    if not np["enabled"]:
        return [f"{len(policies)} NetworkPolicies though not enabled"] if policies else []
    problems = []
    for d in (o for o in objects if o["kind"] == "Deployment"):
        name = component_of(d)
        labels = d["spec"]["template"]["metadata"]["labels"]
        c = d["spec"]["template"]["spec"]["containers"][0]
        want = {p["containerPort"]: (np["from"] if p["name"] == "grpc" else np["metricsFrom"]) for p in c["ports"]}
        got = {}
        for policy in (p for p in policies if selects(p["spec"]["podSelector"], labels)):
            for rule in policy["spec"].get("ingress", []):
                for port in rule.get("ports", []):
                    got[port["port"]] = rule.get("from", [])
        if got != want:
            problems.append(f"{name}: ingress admitted {got}, not {want}")
    return problems


def render_and_validate(chart: helm.Chart, label: str, values: dict) -> None:
    try:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as e:
        report(False, f"{label}  render", str(e).strip())
        return
    merged = chart.merge_values(values)
    objects = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    for obj in objects:
        what = f"{label}  {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        custom = CUSTOM_SCHEMAS.get((obj.get("apiVersion"), obj.get("kind")))
        if custom:
            schema = json.loads(custom.read_text())
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
            report(not errors, what, "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors))
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            report(False, what, f"{path}: {e.message}")
            continue
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
            report(False, what, e.message)
            continue
        problems = (pod_problems(obj, merged) + auth_problems(obj, merged)
                    + security_problems(obj, merged) + departments_problems(obj, merged)
                    + config_problems(obj))
        report(not problems, what, "; ".join(problems))

    for what, check in [("metrics endpoints, Services and ServiceMonitor", metrics_problems),
                        ("replicas, HPAs, PodDisruptionBudgets and topology spread", scaling_problems),
                        ("helm test Pods", test_pod_problems),
                        ("NetworkPolicies", network_policy_problems)]:
        problems = check(objects, merged)
        report(not problems, f"{label}  {what}", "; ".join(problems))

    # The loop over `services` must give exactly one Deployment and one Service per enabled entry.
    enabled = sorted(n for n, s in merged["services"].items() if s["enabled"])
    for kind in ("Deployment", "Service"):
        got = sorted(
            o["metadata"]["labels"]["app.kubernetes.io/component"] for o in objects if o["kind"] == kind
        )
        report(got == enabled, f"{label}  one {kind} per enabled service ({', '.join(enabled)})",
               f"got {', '.join(got) or 'none'}")


def schema_refuses(chart: helm.Chart, values: dict, key: str) -> None:
    what = f"schema refuses misspelt key {key!r}"
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    except helm.HelmValuesError as e:
        report(key in str(e), what, f"refused, but not naming the key: {e}")
        return
    report(False, what, "rendered without error")


def template_refuses(chart: helm.Chart, label: str, values: dict | None, message: str) -> None:
    what = f"templates refuse {label}"
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as e:
        report(message in str(e), what, f"refused, but not saying {message!r}: {e}")
        return
    report(False, what, "rendered without error")


def main() -> int:
    with helm.Chart.load(CHART) as chart:
        for label, values in value_sets():
            lint(label, values)
            render_and_validate(chart, label, values)
        for values, key in MISSPELT_VALUES:
            schema_refuses(chart, values, key)
        for label, values, message in REFUSED_VALUES:
            template_refuses(chart, label, values, message)
    return finish("helm-check")


if __name__ == "__main__":
    sys.exit(main())
