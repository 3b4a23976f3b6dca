#!/usr/bin/env python3
"""The chart's workloads as local processes: what tests/e2e/chart.rs starts to prove the rendered
chart's commands run, not only that its YAML validates.

Reads a request (JSON) on stdin:
  {"values_file": "ci/production.yaml", "set": {nested values over it, as --set would},
   "root": "/a/temp/dir", "binary": "/path/to/yimen"}
renders the chart with Helm's own library (as deploy/helm/check.py does) and writes on stdout, as
JSON, each container of the migration Job, the Deployments and the `helm test` Pods as a process:
  {"name", "args": [...], "env": {...}, "readiness": [argv] (Deployments only)}
- env: the container's `value`s, and each secretKeyRef/configMapKeyRef resolved from the Secrets
  and ConfigMaps the chart rendered (stringData, or data base64-decoded); a missing key fails
  unless the reference is optional.
- Files: every volume mounted from a rendered ConfigMap, Secret or projection of them is written
  under root/<name>/ at its mount path (subPath: the one file); emptyDirs become empty
  directories. Every argument and variable naming a mount path is rewritten to the local copy.
- The image's entrypoint, /usr/local/bin/yimen, is `binary`.
- Readiness: the container's readinessProbe as a command: an exec probe as it is (paths
  rewritten); a gRPC probe as `yimen healthcheck` asking the same port and service on 127.0.0.1.
- `helm test` Pods: their address at a Service of the release (http(s)://<service>:<port>) is
  rewritten to 127.0.0.1 and the port the Service leads to, where the local process listens.
A value the chart would take from something it did not render (an existing Secret) is an error.
"""

import base64
import json
import re
import sys
from pathlib import Path

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "yimen"
RELEASE = NAMESPACE = "yimen"
IMAGE_BINARY = "/usr/local/bin/yimen"


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def render(request: dict) -> list[dict]:
    values = helm.values_from_yaml((CHART / request["values_file"]).read_text()) or {}
    values = deep_merge(values, request.get("set", {}))
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [doc for template, text in sorted(manifests.items()) if not template.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


class Sources:
    """The rendered Secrets and ConfigMaps, by name: key → text."""

    def __init__(self, objects: list[dict]):
        self.data = {}
        for o in objects:
            if o["kind"] == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in (o.get("data") or {}).items()}
                self.data[("secret", o["metadata"]["name"])] = data | (o.get("stringData") or {})
            elif o["kind"] == "ConfigMap":
                self.data[("configMap", o["metadata"]["name"])] = dict(o.get("data") or {})

    def keys(self, kind: str, name: str) -> dict:
        if (kind, name) not in self.data:
            raise SystemExit(f"the chart refers to {kind} {name}, which it did not render")
        return self.data[(kind, name)]

    def key(self, kind: str, ref: dict) -> str | None:
        """A key's text; None when it is missing and the reference optional."""
        keys = self.data.get((kind, ref["name"]))
        value = (keys or {}).get(ref["key"])
        if value is None and not ref.get("optional"):
            raise SystemExit(f"the chart refers to key {ref['key']} of {kind} {ref['name']}, which it did not render")
        return value

    def volume_files(self, volume: dict) -> dict[str, str] | None:
        """relative path → text of a volume; None for an emptyDir."""
        if "emptyDir" in volume:
            return None
        sources = []
        if "configMap" in volume:
            sources.append(("configMap", volume["configMap"]["name"], volume["configMap"].get("items")))
        elif "secret" in volume:
            sources.append(("secret", volume["secret"]["secretName"], volume["secret"].get("items")))
        elif "projected" in volume:
            for s in volume["projected"]["sources"]:
                kind = "secret" if "secret" in s else "configMap"
                sources.append((kind, s[kind]["name"], s[kind].get("items")))
        else:
            raise SystemExit(f"volume {volume['name']}: a kind this runner does not know")
        files = {}
        for kind, name, items in sources:
            keys = self.keys(kind, name)
            for item in items or [{"key": k, "path": k} for k in keys]:
                files[item["path"]] = keys[item["key"]]
        return files


def localize(text: str, mounts: list[str], local: Path) -> str:
    """Rewrites a path under one of the mounts (or the image's binary) to its local copy."""
    if text == IMAGE_BINARY:
        return str(REQUEST["binary"])
    for m in sorted(mounts, key=len, reverse=True):
        if text == m or text.startswith(m.rstrip("/") + "/"):
            return str(local) + text
    return text


def process(name: str, pod: dict, sources: Sources, root: Path) -> dict:
    containers = pod["containers"]
    if len(containers) != 1:
        raise SystemExit(f"{name}: {len(containers)} containers; this runner runs one")
    c = containers[0]
    local = root / name
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = []
    for m in c.get("volumeMounts", []):
        files = sources.volume_files(volumes[m["name"]])
        target = local / m["mountPath"].lstrip("/")
        if files is None:
            target.mkdir(parents=True, exist_ok=True)
        elif "subPath" in m:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[m["subPath"]])
        else:
            target.mkdir(parents=True, exist_ok=True)
            for path, text in files.items():
                (target / path).write_text(text)
        mounts.append(m["mountPath"])
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            value = e["value"]
        elif "secretKeyRef" in e.get("valueFrom", {}):
            value = sources.key("secret", e["valueFrom"]["secretKeyRef"])
        elif "configMapKeyRef" in e.get("valueFrom", {}):
            value = sources.key("configMap", e["valueFrom"]["configMapKeyRef"])
        else:
            raise SystemExit(f"{name}: env {e['name']} from a source this runner does not know")
        if value is not None:
            env[e["name"]] = localize(value, mounts, local)
    # No command: the image's entrypoint, the binary.
    argv = [*c.get("command", [IMAGE_BINARY]), *c.get("args", [])]
    out = {"name": name, "args": [localize(a, mounts, local) for a in argv], "env": env}
    probe = c.get("readinessProbe")
    if probe and "exec" in probe:
        out["readiness"] = [localize(a, mounts, local) for a in probe["exec"]["command"]]
    elif probe and "grpc" in probe:
        target = c["args"][c["args"].index("--target") + 1]
        out["readiness"] = [REQUEST["binary"], "healthcheck", "--target", target,
                            "--probe", probe["grpc"].get("service") or "liveness",
                            "--addr", f"http://127.0.0.1:{probe['grpc']['port']}"]
    return out


def main() -> None:
    root = Path(REQUEST["root"])
    objects = render(REQUEST)
    sources = Sources(objects)
    plan = {"jobs": [], "deployments": [], "tests": []}
    for o in objects:
        name = o["metadata"]["name"]
        if o["kind"] == "Job":
            plan["jobs"].append(process(name, o["spec"]["template"]["spec"], sources, root))
        elif o["kind"] == "Deployment":
            plan["deployments"].append(process(name, o["spec"]["template"]["spec"], sources, root))
    # A Service's port → the container port it leads to (a named targetPort of its pods).
    ports = {}
    for s in (o for o in objects if o["kind"] == "Service"):
        pods = [d for d in objects if d["kind"] == "Deployment"
                and d["spec"]["selector"]["matchLabels"] == s["spec"]["selector"]]
        named = {p["name"]: p["containerPort"] for d in pods for c in d["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            ports[(s["metadata"]["name"], p["port"])] = named.get(p["targetPort"], p["targetPort"])
    for o in (o for o in objects if o["kind"] == "Pod"):
        test = process(o["metadata"]["name"], o["spec"], sources, root)
        for i, arg in enumerate(test["args"]):
            m = re.fullmatch(r"(https?)://([^:/]+):(\d+)", arg)
            if m:
                if (m.group(2), int(m.group(3))) not in ports:
                    raise SystemExit(f"{test['name']}: {arg} is no Service of the release")
                test["args"][i] = f"{m.group(1)}://127.0.0.1:{ports[(m.group(2), int(m.group(3)))]}"
        plan["tests"].append(test)
    json.dump(plan, sys.stdout, indent=1)


if __name__ == "__main__":
    REQUEST = json.load(sys.stdin)
    main()
