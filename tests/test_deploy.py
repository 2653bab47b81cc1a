"""deploy/: the Dockerfile and the Kubernetes manifests, checked offline.

Every built-in resource is validated against the Kubernetes API schemas (kubernetes-validate,
strict); the KEDA ScaledObject, a custom resource, gets a structural check. Then the rules we keep:
probes, resources, non-root, pinned images, a worker grace that fits the render grace, settings that
exist. `kubectl kustomize` builds base and overlays when kubectl is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cli.settings_doc import settings
from gateway.server import SERVICE_NAME

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The Python packages of the project, kernel to front door (pyproject's packages.find).
PACKAGES = ("reelmill", "gateway", "worker", "cli")
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest we support (native gRPC probes are GA from 1.27)
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
GATEWAY, WORKER, MIGRATE_JOB = "reelmill-gateway", "reelmill-worker", "reelmill-migrate"
DRAIN_MARGIN_S = 30  # after the render grace: publish the outcome, acknowledge, close

Doc = dict[str, Any]


# -- loading ------------------------------------------------------------------------------------------


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def kustomization(folder: Path) -> Doc:
    return load_docs(folder / "kustomization.yaml")[0]


def resource_files(folder: Path) -> Iterator[Path]:
    """The complete resources a kustomization lists (not patches), following folders."""
    for entry in kustomization(folder).get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            yield from resource_files(path)
        else:
            yield path


def all_resource_files() -> list[Path]:
    return sorted({p for folder in [K8S / "base", *OVERLAYS] for p in resource_files(folder)})


def kubectl_kustomize(folder: Path) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize build is not checked here")
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def raw_base() -> list[Doc]:
    """base as written, with the image tags kustomize would set (for when kubectl is missing)."""
    tags = {i["name"]: i["newTag"] for i in kustomization(K8S / "base").get("images", [])}
    docs = [d for p in resource_files(K8S / "base") for d in load_docs(p)]
    for _, container in containers(docs):
        if container["image"] in tags:
            container["image"] = f"{container['image']}:{tags[container['image']]}"
    return docs


# -- validation ---------------------------------------------------------------------------------------


SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
                      "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced",
                      "triggers"}  # fmt: skip


def check_scaled_object(doc: Doc) -> list[str]:
    """KEDA's ScaledObject (keda.sh/v1alpha1) is not in the Kubernetes schemas: the shape by hand."""
    errors = []
    spec = doc.get("spec") or {}
    if not isinstance(doc.get("metadata", {}).get("name"), str):
        errors.append("metadata.name missing")
    if unknown := set(spec) - SCALED_OBJECT_SPEC:
        errors.append(f"unknown spec fields {sorted(unknown)}")
    if not isinstance((spec.get("scaleTargetRef") or {}).get("name"), str):
        errors.append("spec.scaleTargetRef.name missing")
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        if key in spec and not (isinstance(spec[key], int) and spec[key] >= 0):
            errors.append(f"spec.{key} must be a non-negative integer")
    if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
        errors.append("minReplicaCount > maxReplicaCount")
    fallback = spec.get("fallback")
    if fallback is not None and not all(
        isinstance(fallback.get(k), int) for k in ("failureThreshold", "replicas")
    ):
        errors.append("spec.fallback needs integer failureThreshold and replicas")
    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        errors.append("spec.triggers must be a non-empty list")
    for i, t in enumerate(triggers or []):
        if not isinstance(t.get("type"), str):
            errors.append(f"triggers[{i}].type missing")
        meta = t.get("metadata")
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            errors.append(f"triggers[{i}].metadata must map names to strings (quote numbers)")
    return errors


def check_pod_monitor(doc: Doc) -> list[str]:
    """The Prometheus Operator's PodMonitor: not in the Kubernetes schemas either."""
    spec = doc.get("spec") or {}
    errors = [] if spec.get("selector") else ["spec.selector missing"]
    endpoints = spec.get("podMetricsEndpoints") or []
    if not endpoints or not all(isinstance(e.get("port"), str) for e in endpoints):
        errors.append("spec.podMetricsEndpoints need a named port each")
    return errors


def check_prometheus_rule(doc: Doc) -> list[str]:
    errors = []
    for group in (doc.get("spec") or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            if not isinstance(rule.get("alert"), str) or not isinstance(rule.get("expr"), str):
                errors.append(f"a rule needs alert and expr: {rule}")
            elif rule["expr"].count("(") != rule["expr"].count(")"):
                errors.append(f"{rule['alert']}: unbalanced parentheses")
            if "for" in rule and not re.fullmatch(r"\d+[smh]", rule["for"]):
                errors.append(f"{rule['alert']}: `for` must be a duration like 5m")
    return errors


CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): check_scaled_object,
    ("monitoring.coreos.com/v1", "PodMonitor"): check_pod_monitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): check_prometheus_rule,
}


def validation_errors(docs: list[Doc]) -> list[str]:
    errors = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        custom = CUSTOM.get((doc.get("apiVersion"), doc.get("kind")))
        if custom is not None:
            errors += [f"{name}: {e}" for e in custom(doc)]
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{name}: {e.message}")
    return errors


# -- policy -------------------------------------------------------------------------------------------


def workloads(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(resource, pod spec) of every Deployment, StatefulSet and Job."""
    for doc in docs:
        if doc.get("kind") in ("Deployment", "StatefulSet", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


def containers(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for doc, pod in workloads(docs):
        for c in [*pod.get("initContainers", []), *pod["containers"]]:
            yield doc, c


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def env_of(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def settings_env(command: str) -> set[str]:
    return {s.env for s in settings(command)}


def policy_violations(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, pod in workloads(docs):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        security = pod.get("securityContext", {})
        if security.get("runAsNonRoot") is not True or security.get("runAsUser", 0) == 0:
            bad.append(f"{name}: the pod must run as a non-root user")
        if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            bad.append(f"{name}: the pod needs the RuntimeDefault seccomp profile")
        if pod.get("automountServiceAccountToken") is not False:
            bad.append(f"{name}: no service account token is needed")
        for c in pod["containers"]:
            if doc["kind"] != "Job" and "livenessProbe" not in c:
                bad.append(f"{name}/{c['name']}: no liveness probe")
    for doc, c in containers(docs):
        name = f"{doc['kind']}/{doc['metadata']['name']}/{c['name']}"
        resources = c.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(part, {})):
                bad.append(f"{name}: resources.{part} needs cpu and memory")
        image = c["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest":
            bad.append(f"{name}: image {image!r} must carry a pinned tag")
        if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
            bad.append(f"{name}: allowPrivilegeEscalation must be false")
        if c.get("securityContext", {}).get("capabilities", {}).get("drop") != ["ALL"]:
            bad.append(f"{name}: must drop all capabilities")
    return bad


def reelmill_checks(docs: list[Doc]) -> list[str]:
    """What our processes need from the manifests, read against the code."""
    bad = []
    config = find(docs, "ConfigMap", "reelmill-config")["data"]
    if unknown := set(config) - settings_env("gateway") - settings_env("worker"):
        bad.append(f"reelmill-config: {sorted(unknown)} are no settings of gateway or worker")
    storage = find(docs, "ConfigMap", "reelmill-object-storage")["data"]
    if unknown := set(storage) - settings_env("worker"):  # a misspelt S3 setting silently writes to AWS
        bad.append(f"reelmill-object-storage: {sorted(unknown)} are no settings of `reelmill worker`")

    gateway = find(docs, "Deployment", GATEWAY)
    gw = gateway["spec"]["template"]["spec"]["containers"][0]
    gw_env = env_of(gw)
    port = int(gw_env["REELMILL_LISTEN"]["value"].rsplit(":", 1)[1])
    ready, live = gw.get("readinessProbe", {}).get("grpc"), gw.get("livenessProbe", {}).get("grpc")
    if ready != {"port": port, "service": SERVICE_NAME}:
        bad.append(f"gateway readiness must be grpc on {port} for {SERVICE_NAME}, not {ready}")
    if not live or live.get("port") != port:
        bad.append(f"gateway liveness must be grpc on {port}")
    if gw_env.get("REELMILL_NO_MIGRATE", {}).get("value") != "1":
        bad.append("the gateway must not migrate: REELMILL_NO_MIGRATE=1 (the Job does it)")
    waits = [c for c in gateway["spec"]["template"]["spec"].get("initContainers", [])
             if c.get("args", [])[:2] == ["migrate", "--check"]]  # fmt: skip
    if not waits:
        bad.append("the gateway must wait for the schema: an init container `migrate --check --wait`")

    # What the gateway needs to start: keys (fail closed) from a Secret mounted where the settings say.
    mounts = {m["name"]: m["mountPath"] for m in gw.get("volumeMounts", [])}
    secrets = {v["name"]: v["secret"]["secretName"] for v in gateway["spec"]["template"]["spec"]["volumes"]
               if "secret" in v}  # fmt: skip
    for setting in ("REELMILL_API_KEYS_FILE", "REELMILL_ACCESS_KEY_MASTER_FILE"):
        path = gw_env.get(setting, {}).get("value", "")
        if not any(path.startswith(mounts[v] + "/") for v in secrets if v in mounts):
            bad.append(f"gateway: {setting} must name a file of a mounted Secret, not {path!r}")
    if gw_env.get("REELMILL_OPEN", {}).get("value", "") not in ("", "0", "false", "no"):
        bad.append("gateway: REELMILL_OPEN must not be set in the manifests")

    job = find(docs, "Job", MIGRATE_JOB)["spec"]["template"]["spec"]["containers"][0]
    if job.get("args") != ["migrate"]:
        bad.append("the migration Job must run `reelmill migrate`")
    for name, container, command in (("gateway", gw, "gateway"), ("migrate Job", job, "migrate"),
                                     *[("gateway init", c, "migrate") for c in waits]):  # fmt: skip
        url = env_of(container).get("REELMILL_DATABASE_URL", {})
        if "secretKeyRef" not in url.get("valueFrom", {}):
            bad.append(f"{name}: REELMILL_DATABASE_URL must come from a Secret")
        if unknown := set(env_of(container)) - settings_env(command):
            bad.append(f"{name}: {sorted(unknown)} are no settings of `reelmill {command}`")

    worker = find(docs, "Deployment", WORKER)
    if "replicas" in worker["spec"]:
        bad.append("the worker Deployment must leave replicas to KEDA")
    pod = worker["spec"]["template"]["spec"]
    wk_env = env_of(pod["containers"][0])
    if unknown := set(wk_env) - settings_env("worker"):
        bad.append(f"worker: {sorted(unknown)} are no settings of `reelmill worker`")
    grace_s = float(wk_env["REELMILL_SHUTDOWN_GRACE_S"]["value"])
    if pod.get("terminationGracePeriodSeconds", 30) < grace_s + DRAIN_MARGIN_S:
        bad.append(f"worker terminationGracePeriodSeconds must be >= {grace_s:g} + {DRAIN_MARGIN_S} s")

    scaler = find(docs, "ScaledObject", WORKER)["spec"]
    trigger = scaler["triggers"][0]
    meta = trigger["metadata"]
    # Every tenant has its own queues, so KEDA reads their summed lag from the gateway's /queue.
    gateway_port = next(p["port"] for p in find(docs, "Service", GATEWAY)["spec"]["ports"]
                        if p["name"] == "metrics")  # fmt: skip
    namespace = worker["metadata"].get("namespace") or "reelmill"
    want = f"http://{GATEWAY}.{namespace}.svc.cluster.local:{gateway_port}/queue"
    if (trigger["type"], meta.get("url"), meta.get("valueLocation")) != ("metrics-api", want, "lag"):
        bad.append(f"KEDA must read the lag at {want} (metrics-api, valueLocation lag), not {trigger}")
    if scaler["scaleTargetRef"]["name"] != WORKER:
        bad.append("KEDA must scale the worker Deployment")
    if meta.get("targetValue") != wk_env["REELMILL_SLOTS"]["value"]:
        bad.append("KEDA's targetValue must equal the renders per pod (REELMILL_SLOTS)")
    gw_metrics = env_of(gateway["spec"]["template"]["spec"]["containers"][0]).get("REELMILL_METRICS_PORT")
    metrics_port = gw_metrics["value"] if gw_metrics else config.get("REELMILL_METRICS_PORT")
    if metrics_port != str(gateway_port):
        bad.append(f"the gateway must serve /metrics and /queue on {gateway_port} (REELMILL_METRICS_PORT)")

    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    if not any(
        p["spec"]["selector"]["matchLabels"] == gateway["spec"]["selector"]["matchLabels"] for p in pdbs
    ):
        bad.append("the gateway needs a PodDisruptionBudget")
    return bad


# -- the tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", all_resource_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_file_is_valid(path: Path) -> None:
    assert validation_errors(load_docs(path)) == []


def test_base_as_written_keeps_the_rules() -> None:
    docs = raw_base()
    assert policy_violations(docs) == []
    assert reelmill_checks(docs) == []


@pytest.mark.parametrize("folder", [K8S / "base", *OVERLAYS], ids=lambda p: str(p.relative_to(K8S)))
def test_kustomize_build_is_valid_and_keeps_the_rules(folder: Path) -> None:
    docs = kubectl_kustomize(folder)
    assert validation_errors(docs) == []
    assert policy_violations(docs) == []
    assert reelmill_checks(docs) == []
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        kustomization(folder)["namespace"]
    }
    if kustomization(folder).get("secretGenerator"):  # a self-contained overlay brings every Secret
        # the pods mount, keys included (production leaves them to the operator)
        for volume in find(docs, "Deployment", GATEWAY)["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                find(docs, "Secret", volume["secret"]["secretName"])


def test_the_policy_check_catches_what_it_should() -> None:
    docs = raw_base()
    worker = find(docs, "Deployment", WORKER)["spec"]["template"]["spec"]
    worker["terminationGracePeriodSeconds"] = 30
    worker["containers"][0]["image"] = "reelmill:latest"
    del worker["containers"][0]["resources"]["limits"]
    worker["securityContext"]["runAsNonRoot"] = False
    worker["containers"][0]["env"].append({"name": "REELMILL_NO_SUCH_SETTING", "value": "1"})
    found = "\n".join(policy_violations(docs) + reelmill_checks(docs))
    for expected in ("terminationGracePeriodSeconds", "pinned tag", "resources.limits", "non-root",
                     "REELMILL_NO_SUCH_SETTING"):  # fmt: skip
        assert expected in found
    pod = {"containers": [{"name": "c", "periodSecond": 1}]}
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"selector": {}, "template": {"spec": pod}}}  # fmt: skip
    assert any("periodSecond" in e for e in validation_errors([bad]))
    triggers = [{"type": "t", "metadata": {"n": 1}}]
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
              "spec": {"scaleTargetRef": {"name": "w"}, "triggers": triggers}}  # fmt: skip
    assert any("quote numbers" in e for e in validation_errors([scaled]))


# -- the image ----------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)  # continuation lines
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_essentials() -> None:
    steps = dockerfile_instructions()
    args = dict(a.split("=", 1) for kind, a in steps if kind == "ARG" and "=" in a)
    stages: list[list[tuple[str, str]]] = []
    for kind, rest in steps:
        if kind == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((kind, rest))
    assert len(stages) >= 2, "multi-stage: build, then a slim runtime"
    for stage in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stage[0][1].split()[0])
        assert image.startswith("python:3.11-slim"), image
        # pinned by digest: the same commit builds on the same base bytes (issue 14)
        assert re.fullmatch(r"[\w.:/-]+@sha256:[0-9a-f]{64}", image), f"{image} is not pinned by digest"
    build, runtime = "\n".join(r for _, r in stages[0]), stages[-1]
    assert "grpc_tools.protoc" in build and "pip install --no-deps ." in build
    assert "--require-hashes -r requirements.lock" in build  # every package as locked
    assert "grpcio-tools" not in "\n".join(r for _, r in runtime), "the code generator stays in the build"
    assert any(k == "COPY" and r.startswith("--from=build") for k, r in runtime)
    users = [r for k, r in runtime if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = [r for k, r in runtime if k == "ENTRYPOINT"]
    assert entry == ['["reelmill"]']
    ignore = (ROOT / ".dockerignore").read_text()
    assert "reelmill/v1/*_pb2*.py" in ignore  # generated inside the build, never copied in
    # every package the wheel is made of is copied into the build and let through .dockerignore
    copied = {r.split()[0].rstrip("/") for k, r in steps if k == "COPY" and not r.startswith("--from")}
    assert set(PACKAGES) <= copied
    assert all(f"!{package}/" in ignore.splitlines() for package in PACKAGES)


def test_the_package_carries_generated_code_and_migrations(tmp_path: Path) -> None:
    """What the image's `pip install .` relies on: a regular wheel has the generated modules (made by
    `make proto` here, by protoc in the Dockerfile) and the migrations, and the `reelmill` command."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", *PACKAGES):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (wheel,) = (tmp_path / "dist").glob("reelmill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"reelmill/v1/batch_service_pb2.py", "reelmill/v1/batch_service_pb2_grpc.py",
            "gateway/migrations/env.py", "gateway/migrations/versions/0001_initial.py",
            "cli/main.py"} <= names  # fmt: skip
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "reelmill = cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_tls_example_sets_only_real_settings() -> None:
    """deploy/k8s/examples/tls-cert-manager.yaml (not in an overlay): what it sets exists in the code,
    and it mounts the Secret its Certificate writes."""
    certificate, patch = load_docs(K8S / "examples" / "tls-cert-manager.yaml")
    container = patch["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)
    assert {"REELMILL_TLS_CERT", "REELMILL_TLS_KEY", "REELMILL_TLS_CLIENT_CA"} <= set(env)
    assert set(env) <= settings_env("gateway")
    (volume,) = patch["spec"]["template"]["spec"]["volumes"]
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    mount = container["volumeMounts"][0]["mountPath"]
    assert all(e["value"].startswith(mount + "/") for e in env.values())


def test_the_node_cache_example_mounts_the_folder_the_worker_caches_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """deploy/k8s/examples/node-cache.yaml (not in an overlay): its volume is mounted where the worker,
    with the DATA_DIR the image sets, keeps its caches, in the base's worker container."""
    from cli.main import build_parser, worker_settings

    (patch,) = load_docs(K8S / "examples" / "node-cache.yaml")
    base = find(raw_base(), "Deployment", patch["metadata"]["name"])
    pod = patch["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] in {c["name"] for c in base["spec"]["template"]["spec"]["containers"]}
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert mount["name"] == volume["name"] and volume["hostPath"]["type"] == "Directory"
    (env,) = [
        value for step, value in dockerfile_instructions() if step == "ENV" and "REELMILL_DATA_DIR=" in value
    ]
    data_dir = re.search(r"REELMILL_DATA_DIR=(\S+)", env)
    assert data_dir is not None
    monkeypatch.setenv("REELMILL_DATA_DIR", data_dir[1])
    assert mount["mountPath"] == worker_settings(build_parser().parse_args(["worker"])).cache_dir


def test_the_dev_overlay_keys_load_as_the_gateway_reads_them() -> None:
    from gateway.tenants import Authenticator, hash_key

    dev = K8S / "overlays" / "dev"
    auth = Authenticator.from_file(str(dev / "keys.json"), str(dev / "access-key-master"))
    assert not auth.is_open
    assert json.loads((dev / "keys.json").read_text())["keys"][0]["sha256"] == hash_key(
        "rmk_dev-only-not-a-secret"
    )


def test_the_alert_rules_are_the_documented_ones_on_real_metrics() -> None:
    """deploy/k8s/monitoring/prometheus-rule.yaml is what `make docs` makes of the alerts table, and
    every reelmill metric its rules read is one the code exports."""
    from prometheus_client import REGISTRY

    import gateway.metrics  # noqa: F401 - registers the gateway's metrics
    import worker.metrics  # noqa: F401 - and the worker's
    from cli.alerts_doc import DOC, RULES, alerts, render

    found = alerts(DOC.read_text(encoding="utf-8"))
    assert len(found) >= 9
    assert RULES.read_text(encoding="utf-8") == render(found), "run `make docs`"
    exported = {name for family in REGISTRY.collect() for name in (family.name, f"{family.name}_total")}
    for a in found:
        for metric in re.findall(r"\breelmill_[a-z_]+", a.expr):
            assert metric in exported, f"{a.name}: {metric} is no metric of the code"
    assert validation_errors(load_docs(RULES)) == []


def test_the_lock_files_pin_what_pyproject_asks_for() -> None:
    """requirements.lock (the image) and requirements-dev.lock (make setup, CI) hold every direct
    dependency at the version pyproject.toml pins, each with hashes; `make lock` remakes them."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = project["dependencies"] + project["optional-dependencies"]["dev"]

    def pins(lines: list[str]) -> dict[str, str]:
        out = {}
        for line in lines:
            m = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;\\]+)", line.split("#")[0].strip())
            if m:
                out[m.group(1).lower().replace("_", "-")] = m.group(3)
        return out

    for lock, wanted in (("requirements.lock", project["dependencies"]), ("requirements-dev.lock", dev)):
        lines = (ROOT / lock).read_text().splitlines()
        locked = pins(lines)
        for name, version in pins(wanted).items():
            assert locked.get(name) == version, (
                f"{lock}: {name} {locked.get(name)} is not {version}: make lock"
            )
        entries = [line for line in lines if line[:1].isalnum()]
        assert entries and all(line.rstrip().endswith("\\") for line in entries), (
            f"{lock}: an entry without hashes"
        )
