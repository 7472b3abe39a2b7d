"""Issue 28: the Kubernetes manifests under deploy/ (and the Containerfile they run) checked
against the settings they depend on: probe path and port, the grace period against the drain,
env names that exist, the read-only root filesystem's volumes, the token's Secret, the
disruption budget and the autoscaler's target and metric. Pure: no browser, no server.

``problems`` is the check; the mutation tests show each rule reports a manifest that breaks it."""

from __future__ import annotations

import copy
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from browser_worker._session import WorkerStats
from browser_worker.config import DEFAULTS, OTHER_ENV, WorkerSettings
from browser_worker.errors import ConfigError
from browser_worker.metrics import WorkerMetrics
from browser_worker.settings_spec import spec_of

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONTAINERFILE = ROOT / "Containerfile"

#: Sizing figures from docs/performance.md (Sizing in docs/deployment.md): a worker with its
#: warm pages, and one idle window session.
WORKER_BYTES = 600 * 10**6
WINDOW_SESSION_BYTES = 25 * 10**6

Docs = list[dict[str, Any]]


def known_env() -> set[str]:
    """Every variable the worker reads: each setting's name and aliases, and the others."""
    names = set(OTHER_ENV)
    for f in fields(WorkerSettings):
        spec = spec_of(f)
        names.update((spec.env, *spec.aliases))
    return names


def exported_metrics() -> set[str]:
    """Series names a worker's /metrics serves."""
    metrics = WorkerMetrics()
    metrics.read_from(WorkerStats)
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def load_manifests() -> Docs:
    """Every YAML document under deploy/, each with the file it came from."""
    docs = []
    for path in sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs.append({**doc, "__file__": path.relative_to(DEPLOY).as_posix()})
    return docs


def containerfile_env() -> dict[str, str]:
    """The image's ENV defaults (one ENV instruction of NAME=value pairs)."""
    text = CONTAINERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    return dict(re.findall(r"\b([A-Z][A-Z0-9_]*)=(\S+)", "\n".join(
        line for line in text.splitlines() if line.startswith("ENV "))))


def image_uid() -> int:
    match = re.search(r"^USER\s+(\d+)", CONTAINERFILE.read_text(encoding="utf-8"), re.M)
    assert match, "the Containerfile has no numeric USER"
    return int(match.group(1))


def quantity_bytes(value: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", str(value))
    assert match, f"not a quantity: {value}"
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


def problems(docs: Docs) -> list[str]:
    """Every way these manifests contradict the worker's settings or each other (empty: none)."""
    found: list[str] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind") or "", []).append(doc)
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        return [f"expected one Deployment, found {len(deployments)}"]
    deployment = deployments[0]
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    container = next((c for c in pod["containers"] if c["name"] == "browser-worker"), None)
    if container is None:
        return ["the Deployment has no container named browser-worker"]

    # Env names exist, the token comes from a Secret, and the plain values are valid settings.
    env_entries = container.get("env", [])
    known = known_env()
    for entry in env_entries:
        if entry["name"] not in known:
            found.append(f"env {entry['name']}: the worker reads no such variable")
    token = next((e for e in env_entries if e["name"] == "HYPHA_TOKEN"), None)
    if token is None or "secretKeyRef" not in token.get("valueFrom", {}):
        found.append("HYPHA_TOKEN must come from a Secret (valueFrom.secretKeyRef)")
    plain = {**containerfile_env(), **{e["name"]: str(e["value"]) for e in env_entries if "value" in e}}
    try:
        settings = WorkerSettings.from_env({k: v for k, v in plain.items() if k in known})
    except ConfigError as exc:
        return [*found, f"the env is not valid settings: {exc}"]

    # /health on the metrics port, reachable from the kubelet.
    if settings.metrics_port == 0:
        found.append("BROWSER_WORKER_METRICS_PORT is 0: no /health for the probes")
    if settings.metrics_host not in ("0.0.0.0", "::"):
        found.append(f"BROWSER_WORKER_METRICS_HOST {settings.metrics_host}: the kubelet cannot reach /health there")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(kind)
        if probe is None:
            if kind != "startupProbe":
                found.append(f"no {kind}")
            continue
        get = probe.get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != "/health":
            found.append(f"{kind} path {get.get('path')!r}, not /health")
        if port != settings.metrics_port:
            found.append(f"{kind} port {port} is not the metrics port {settings.metrics_port}")

    # SIGTERM drains before the kubelet kills: the drain, then each session's stop.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    needed = settings.drain_timeout + settings.stop_timeout
    if not grace > needed:
        found.append(f"terminationGracePeriodSeconds {grace} is not above the drain timeout {settings.drain_timeout:g}s "
                     f"plus a session's stop timeout {settings.stop_timeout:g}s")

    # Non-root, read-only root filesystem, and a volume on every folder the worker writes.
    pod_security, security = pod.get("securityContext", {}), container.get("securityContext", {})
    if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
        found.append("runAsNonRoot is not true")
    uid = security.get("runAsUser", pod_security.get("runAsUser"))
    if uid is not None and uid != image_uid():
        found.append(f"runAsUser {uid} is not the image's user {image_uid()}")
    if security.get("readOnlyRootFilesystem") is not True:
        found.append("readOnlyRootFilesystem is not true")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}
    cache = settings.cache_dir or f"{plain.get('XDG_CACHE_HOME', '~/.cache')}/browser-worker/routes"
    for folder in ("/tmp", cache):
        if not any(folder == path or folder.startswith(path.rstrip("/") + "/") for path in mounts):
            found.append(f"{folder} is on the read-only root filesystem: mount a volume there")
    if mounts.get("/dev/shm", {}).get("emptyDir", {}).get("medium") != "Memory":
        found.append("/dev/shm is not an emptyDir with medium Memory")

    # Resources hold the worker and its sessions (docs/performance.md).
    resources = container.get("resources", {})
    floor = WORKER_BYTES + settings.max_sessions * WINDOW_SESSION_BYTES
    for side in ("requests", "limits"):
        memory = resources.get(side, {}).get("memory")
        if memory is None or quantity_bytes(memory) < floor:
            found.append(f"resources.{side}.memory {memory} is below {floor / 1e9:.2f} GB for "
                         f"{settings.max_sessions} sessions")

    # The disruption budget and the autoscaler are about these pods.
    budgets = by_kind.get("PodDisruptionBudget", [])
    if not budgets:
        found.append("no PodDisruptionBudget")
    for budget in budgets:
        selector = budget["spec"].get("selector", {}).get("matchLabels", {})
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            found.append(f"PodDisruptionBudget {budget['metadata']['name']} does not select the Deployment's pods")
    served = exported_metrics()
    adapted = {rule["name"]["as"]: rule for doc in docs for rule in doc.get("rules", []) if "as" in rule.get("name", {})}
    for rule in adapted.values():
        for series in re.findall(r"browser_worker_\w+", rule.get("seriesQuery", "") + rule.get("metricsQuery", "")):
            if series not in served:
                found.append(f"adapter rule {rule['name']['as']}: the worker exports no {series}")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        if (target.get("kind"), target.get("name")) != ("Deployment", deployment["metadata"]["name"]):
            found.append(f"HorizontalPodAutoscaler targets {target.get('kind')} {target.get('name')}, "
                         f"not the Deployment {deployment['metadata']['name']}")
        for metric in hpa["spec"].get("metrics", []):
            name = metric.get(metric["type"][0].lower() + metric["type"][1:], {}).get("metric", {}).get("name")
            if name is not None and name not in served and name not in adapted:
                found.append(f"HorizontalPodAutoscaler metric {name}: neither exported nor made by an adapter rule")

    # kubectl apply -k finds every file it lists.
    for kustomization in by_kind.get("Kustomization", []):
        folder = DEPLOY / Path(kustomization["__file__"]).parent
        for resource in kustomization.get("resources", []):
            if not (folder / resource).exists():
                found.append(f"{kustomization['__file__']} lists {resource}, which does not exist")
    return found


@pytest.fixture(scope="module")
def manifests() -> Docs:
    docs = load_manifests()
    assert docs, "no manifests under deploy/"
    return docs


def test_the_manifests_agree_with_the_settings(manifests: Docs) -> None:
    assert problems(manifests) == []


def test_the_image_sets_only_variables_the_worker_reads_and_checks_health() -> None:
    names = {n for n in containerfile_env() if n.startswith(("BROWSER_WORKER_", "HYPHA_"))}
    assert names and names <= known_env(), names - known_env()
    text = CONTAINERFILE.read_text(encoding="utf-8")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.M), "no HEALTHCHECK on /health"
    assert image_uid() != 0
    assert re.search(r'^ENTRYPOINT \[.*"browser-worker"\]$', text, re.M) and 'CMD ["serve"]' in text


def deployment(docs: Docs) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == "Deployment")


def container(docs: Docs) -> dict[str, Any]:
    return deployment(docs)["spec"]["template"]["spec"]["containers"][0]


def set_env(docs: Docs, name: str, value: str) -> None:
    entries = container(docs)["env"]
    entries[:] = [e for e in entries if e["name"] != name] + [{"name": name, "value": value}]


def drain_timeout(docs: Docs) -> float:
    entry = next((e for e in container(docs)["env"] if e["name"] == "BROWSER_WORKER_DRAIN_TIMEOUT"), None)
    return float(entry["value"]) if entry else DEFAULTS.drain_timeout


def grace_below_drain(docs: Docs) -> None:
    deployment(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = int(drain_timeout(docs)) - 1


def by_kind(kind: str) -> Callable[[Docs], dict[str, Any]]:
    return lambda docs: next(d for d in docs if d.get("kind") == kind)


#: One break per rule, and the words its finding must hold.
BREAKS: dict[str, tuple[Callable[[Docs], None], str]] = {
    "grace below the drain": (grace_below_drain, "terminationGracePeriodSeconds"),
    "drain longer than the grace": (lambda d: set_env(d, "BROWSER_WORKER_DRAIN_TIMEOUT", "60"),
                                    "terminationGracePeriodSeconds"),
    "probe path": (lambda d: container(d)["livenessProbe"]["httpGet"].update(path="/healthz"), "livenessProbe path"),
    "probe port": (lambda d: set_env(d, "BROWSER_WORKER_METRICS_PORT", "9100"), "not the metrics port 9100"),
    "metrics on loopback": (lambda d: set_env(d, "BROWSER_WORKER_METRICS_HOST", "127.0.0.1"), "kubelet"),
    "unknown env": (lambda d: set_env(d, "BROWSER_WORKER_NO_SUCH_SETTING", "1"), "no such variable"),
    "invalid value": (lambda d: set_env(d, "BROWSER_WORKER_MAX_SESSIONS", "many"), "not valid settings"),
    "token in plain text": (lambda d: set_env(d, "HYPHA_TOKEN", "secret"), "secretKeyRef"),
    "shm on disk": (lambda d: next(v for v in deployment(d)["spec"]["template"]["spec"]["volumes"]
                                   if v["name"] == "dshm")["emptyDir"].pop("medium"), "/dev/shm"),
    "root allowed": (lambda d: deployment(d)["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False),
                     "runAsNonRoot"),
    "writable root": (lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False),
                      "readOnlyRootFilesystem"),
    "no cache volume": (lambda d: container(d)["volumeMounts"].__setitem__(
        slice(None), [m for m in container(d)["volumeMounts"] if m["name"] != "cache"]), "read-only root filesystem"),
    "too little memory": (lambda d: container(d)["resources"]["requests"].update(memory="256Mi"), "requests.memory"),
    "budget elsewhere": (lambda d: by_kind("PodDisruptionBudget")(d)["spec"]["selector"].update(
        matchLabels={"app": "other"}), "does not select"),
    "autoscaler elsewhere": (lambda d: by_kind("HorizontalPodAutoscaler")(d)["spec"]["scaleTargetRef"].update(
        name="other"), "not the Deployment"),
    "autoscaler on a made-up metric": (lambda d: by_kind("HorizontalPodAutoscaler")(d)["spec"]["metrics"][0]["pods"]
                                       ["metric"].update(name="browser_worker_bogus"), "browser_worker_bogus"),
    "adapter on a made-up series": (lambda d: next(x for x in d if "rules" in x)["rules"][0].update(
        seriesQuery="browser_worker_slots"), "browser_worker_slots"),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_rule_reports_a_manifest_that_breaks_it(manifests: Docs, name: str) -> None:
    broken = copy.deepcopy(manifests)
    mutate, words = BREAKS[name]
    mutate(broken)
    found = problems(broken)
    assert any(words in problem for problem in found), found


def test_a_grace_period_below_the_drain_timeout_is_reported(manifests: Docs) -> None:
    """The note of issue 28 asks for this one by name."""
    broken = copy.deepcopy(manifests)
    grace_below_drain(broken)
    assert deployment(broken)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] < drain_timeout(broken)
    assert [p for p in problems(broken) if "terminationGracePeriodSeconds" in p]
