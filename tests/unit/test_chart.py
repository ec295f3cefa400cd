"""The Helm chart (charts/multicluster-service-account), rendered by the real Helm (tests/tools/build-helm.sh):
it lints, its default objects are the kustomize install's, every value has an effect, and its schema refuses
bad values."""

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "multicluster-service-account"
VERSION = (REPO / "VERSION").read_text().strip()
KUBECTL = str(Path(sys.executable).parent / "kubectl")
RELEASE = NS = "multicluster-service-account"
#: The labels Helm's conventions put on every object (helm.sh/chart, and the release's), which the kustomize
#: install has not: the only difference the comparison with it forgives.
HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """helm ARGS..., with Helm's own directories in a temporary one (not the user's) and no cluster."""
    built = subprocess.run([str(REPO / "tests" / "tools" / "build-helm.sh")], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.fail(f"tests/tools/build-helm.sh failed: {built.stderr[-2000:]}")
    binary = built.stdout.strip().splitlines()[-1]
    home = tmp_path_factory.mktemp("helm")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": os.devnull,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], capture_output=True, text=True, env=env, cwd=REPO)

    yield run


def template(helm: Callable[..., subprocess.CompletedProcess[str]], *args: str, namespace: str = NS) -> list[Obj]:
    done = helm("template", RELEASE, str(CHART), "--namespace", namespace, "--include-crds", *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def kustomize(*paths: str) -> list[Obj]:
    docs: list[Obj] = []
    for path in paths:
        done = subprocess.run([KUBECTL, "kustomize", str(REPO / path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        docs.extend(doc for doc in yaml.safe_load_all(done.stdout) if doc)
    return docs


def identity(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def without_helm_labels(obj: Obj) -> Obj:
    labels = obj["metadata"].get("labels") or {}
    assert labels.get("app.kubernetes.io/managed-by", "Helm") == "Helm"
    kept = {key: value for key, value in labels.items() if key not in HELM_LABELS}
    if kept:
        obj["metadata"]["labels"] = kept
    else:
        obj["metadata"].pop("labels", None)
    return obj


def by_identity(docs: list[Obj]) -> dict[tuple[str, str, str, str], Obj]:
    keyed = {identity(doc): doc for doc in docs}
    assert len(keyed) == len(docs), "two objects of the same identity"
    return keyed


def find(docs: list[Obj], kind: str, name: str | None = None) -> Obj:
    [found] = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def pod_specs(docs: list[Obj]) -> list[Obj]:
    """Every pod template of the chart: the hooks', the certificate Job's and the CronJob's."""
    specs = [find(docs, "Deployment")["spec"]["template"]]
    for doc in docs:
        if doc["kind"] == "Job":
            specs.append(doc["spec"]["template"])
        elif doc["kind"] == "CronJob":
            specs.append(doc["spec"]["jobTemplate"]["spec"]["template"])
    return specs


def hooks_container(docs: list[Obj]) -> Obj:
    [container] = find(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def env(docs: list[Obj]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in hooks_container(docs)["env"]}


# -- the chart as a whole ------------------------------------------------------------------------------------


def test_the_chart_is_of_the_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["version"], chart["appVersion"]) == ("v2", VERSION, VERSION)


def test_helm_lint_strict_passes(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    done = helm("lint", "--strict", str(CHART), "--namespace", NS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("args", "manifests"),
    [
        pytest.param((), "manifests", id="default"),
        pytest.param(("--set", "certManager.enabled=true"), "manifests/cert-manager", id="cert-manager"),
    ],
)
def test_the_default_objects_are_the_kustomize_installs(
    helm: Callable[..., subprocess.CompletedProcess[str]], args: tuple[str, ...], manifests: str
) -> None:
    """`helm template` (the CRD included) is `kubectl kustomize` of the manifests and of metacontroller/, object
    for object, but for Helm's labels and the Namespace, which `helm install --create-namespace` makes."""
    rendered = by_identity([without_helm_labels(doc) for doc in template(helm, *args)])
    expected = by_identity(kustomize(manifests, "metacontroller"))
    assert expected.pop(("v1", "Namespace", "", NS))
    assert sorted(rendered) == sorted(expected)
    for key, obj in expected.items():
        assert rendered[key] == obj, f"{key} differs"


def test_the_crd_is_the_manifests_crd() -> None:
    """The chart's copy in crds/ (Helm installs it, never upgrades it) is manifests/base/crd.yaml."""
    [copy] = yaml.safe_load_all((CHART / "crds" / "serviceaccountimports.multicluster.admiralty.io.yaml").read_text())
    assert copy == yaml.safe_load((REPO / "manifests" / "base" / "crd.yaml").read_text())


def test_every_templated_object_has_helms_labels(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    for doc in template(helm):
        labels = doc["metadata"].get("labels", {})
        if doc["kind"] == "CustomResourceDefinition":
            assert not set(labels) & set(HELM_LABELS)  # crds/ is not templated
            continue
        assert labels["helm.sh/chart"] == f"multicluster-service-account-{VERSION}", identity(doc)
        assert labels["app.kubernetes.io/version"] == VERSION
        assert labels["app.kubernetes.io/instance"] == RELEASE


def test_another_namespace_is_refused(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    done = helm("template", RELEASE, str(CHART), "--namespace", "default")
    assert done.returncode != 0
    assert "install this chart in namespace multicluster-service-account" in done.stderr


def test_the_notes_say_what_uninstall_leaves(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    done = helm("install", RELEASE, str(CHART), "--namespace", NS, "--dry-run=client", "--output", "json")
    assert done.returncode == 0, done.stderr
    notes = " ".join(json.loads(done.stdout)["info"]["notes"].split())
    for said in (
        "helm uninstall removes the webhook configuration first",
        "Pod creation is never blocked afterwards",
        "It leaves: - the CRD, every ServiceAccountImport and its Secret",
        "no longer renewed",
        "never upgrades or deletes it",
        "kubectl apply --server-side --force-conflicts",
        "job/multicluster-service-account-certificates",
    ):
        assert said in notes, said


def test_helm_package_makes_the_release_archive(
    helm: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    done = helm("package", str(CHART), "--destination", str(tmp_path))
    assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / f"multicluster-service-account-{VERSION}.tgz") as archive:
        names = set(archive.getnames())
    for path in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md", "templates/NOTES.txt"):
        assert f"multicluster-service-account/{path}" in names
    assert "multicluster-service-account/crds/serviceaccountimports.multicluster.admiralty.io.yaml" in names


# -- every value has an effect ---------------------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


def _images(docs: list[Obj]) -> set[str]:
    return {c["image"] for spec in pod_specs(docs) for c in spec["spec"]["containers"]}


def _every_pod(field: str) -> Callable[[list[Obj]], list[Any]]:
    return lambda docs: [spec["spec"].get(field) for spec in pod_specs(docs)]


def _every_pod_metadata(field: str) -> Callable[[list[Obj]], list[Any]]:
    return lambda docs: [spec["metadata"].get(field) for spec in pod_specs(docs)]


def _every_object(field: str, key: str) -> Callable[[list[Obj]], set[Any]]:
    return lambda docs: {
        (doc["metadata"].get(field) or {}).get(key) for doc in docs if doc["kind"] != "CustomResourceDefinition"
    }


def _kinds(docs: list[Obj]) -> set[str]:
    return {doc["kind"] for doc in docs}


def _network_policy_from(docs: list[Obj]) -> Any:
    return find(docs, "NetworkPolicy")["spec"]["ingress"][0]["from"]


def _webhook(docs: list[Obj]) -> Obj:
    [webhook] = find(docs, "MutatingWebhookConfiguration")["webhooks"]
    return webhook


def _cronjob_container(docs: list[Obj]) -> Obj:
    [container] = find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


POD_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
#: (id, the values set (helm flags), what is observed in the rendered objects, what it must then be). With the
#: default values, the observation must differ.
EFFECTS: list[tuple[str, tuple[str, ...], Callable[[list[Obj]], Any], Any]] = [
    (
        "image",
        ("--set", "image.repository=registry.example.com/mcsa", "--set", "image.tag=1.2.3"),
        _images,
        {"registry.example.com/mcsa:1.2.3"},
    ),
    (
        "image.digest",
        ("--set", f"image.digest={DIGEST}"),
        _images,
        {f"ghcr.io/admiraltyio/multicluster-service-account@{DIGEST}"},
    ),
    (
        "image.pullPolicy",
        ("--set", "image.pullPolicy=Always"),
        lambda docs: {c["imagePullPolicy"] for spec in pod_specs(docs) for c in spec["spec"]["containers"]},
        {"Always"},
    ),
    (
        "credentialPlugin.image",
        (
            "--set",
            "credentialPlugin.image.repository=registry.example.com/plugin",
            "--set",
            "credentialPlugin.image.tag=9",
        ),
        lambda docs: env(docs)["MCSA_CREDENTIAL_PLUGIN_IMAGE"],
        "registry.example.com/plugin:9",
    ),
    (
        "credentialPlugin.image.digest",
        ("--set", f"credentialPlugin.image.digest={DIGEST}"),
        lambda docs: env(docs)["MCSA_CREDENTIAL_PLUGIN_IMAGE"],
        f"ghcr.io/admiraltyio/multicluster-service-account-credential-plugin@{DIGEST}",
    ),
    (
        "credentialPlugin.enabled",
        ("--set", "credentialPlugin.enabled=false"),
        lambda docs: env(docs)["MCSA_CREDENTIAL_PLUGIN_IMAGE"],
        "",
    ),
    (
        "imagePullSecrets",
        ("--set-json", 'imagePullSecrets=[{"name":"registry"}]'),
        _every_pod("imagePullSecrets"),
        [[{"name": "registry"}]] * 3,
    ),
    ("replicas", ("--set", "replicas=3"), lambda docs: find(docs, "Deployment")["spec"]["replicas"], 3),
    (
        "resources",
        ("--set-json", f"resources={json.dumps(POD_RESOURCES)}"),
        lambda docs: hooks_container(docs)["resources"],
        POD_RESOURCES,
    ),
    ("settings.logLevel", ("--set", "settings.logLevel=DEBUG"), lambda docs: env(docs).get("MCSA_LOG_LEVEL"), "DEBUG"),
    ("settings.workers", ("--set", "settings.workers=4"), lambda docs: env(docs).get("MCSA_WORKERS"), "4"),
    ("settings.threads", ("--set", "settings.threads=16"), lambda docs: env(docs).get("MCSA_THREADS"), "16"),
    (
        "settings.renewFraction",
        ("--set", "settings.renewFraction=0.5"),
        lambda docs: env(docs).get("MCSA_RENEW_FRACTION"),
        "0.5",
    ),
    (
        "settings.renewMarginSeconds",
        ("--set-json", "settings.renewMarginSeconds=600"),
        lambda docs: env(docs).get("MCSA_RENEW_MARGIN_SECONDS"),
        "600",
    ),
    (
        "settings.remoteTimeoutSeconds",
        ("--set-json", "settings.remoteTimeoutSeconds=2.5"),
        lambda docs: env(docs).get("MCSA_REMOTE_TIMEOUT_SECONDS"),
        "2.5",
    ),
    (
        "settings.retryMinSeconds",
        ("--set", "settings.retryMinSeconds=1"),
        lambda docs: env(docs).get("MCSA_RETRY_MIN_SECONDS"),
        "1",
    ),
    (
        "settings.retryMaxSeconds",
        ("--set", "settings.retryMaxSeconds=60"),
        lambda docs: env(docs).get("MCSA_RETRY_MAX_SECONDS"),
        "60",
    ),
    (
        "extraEnv",
        ("--set-json", 'extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy.example.com:3128"}]'),
        lambda docs: env(docs).get("HTTPS_PROXY"),
        "http://proxy.example.com:3128",
    ),
    (
        "webhook.failurePolicy",
        ("--set", "webhook.failurePolicy=Ignore"),
        lambda docs: _webhook(docs)["failurePolicy"],
        "Ignore",
    ),
    (
        "webhook.timeoutSeconds",
        ("--set", "webhook.timeoutSeconds=12"),
        lambda docs: _webhook(docs)["timeoutSeconds"],
        12,
    ),
    (
        "metacontroller.namespace",
        ("--set", "metacontroller.namespace=controllers"),
        _network_policy_from,
        [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "controllers"}}}],
    ),
    (
        "metacontroller.podLabels",
        ("--set", "metacontroller.podLabels.app=metacontroller"),
        _network_policy_from,
        [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "metacontroller"}},
                "podSelector": {"matchLabels": {"app": "metacontroller"}},
            }
        ],
    ),
    (
        "metacontroller.compositeController.enabled",
        ("--set", "metacontroller.compositeController.enabled=false"),
        lambda docs: "CompositeController" in _kinds(docs),
        False,
    ),
    (
        "networkPolicy.enabled",
        ("--set", "networkPolicy.enabled=false"),
        lambda docs: "NetworkPolicy" in _kinds(docs),
        False,
    ),
    (
        "certificates.schedule",
        ("--set", "certificates.schedule=0 1 * * 0"),
        lambda docs: find(docs, "CronJob")["spec"]["schedule"],
        "0 1 * * 0",
    ),
    (
        "certificates.resources",
        ("--set-json", f"certificates.resources={json.dumps(POD_RESOURCES)}"),
        lambda docs: _cronjob_container(docs)["resources"],
        POD_RESOURCES,
    ),
    (
        "certManager.enabled",
        ("--set", "certManager.enabled=true"),
        lambda docs: sorted(d["kind"] for d in docs if d["kind"] in ("Certificate", "Issuer", "Job", "CronJob")),
        ["Certificate", "Certificate", "Issuer", "Issuer"],
    ),
    ("commonLabels", ("--set", "commonLabels.team=platform"), _every_object("labels", "team"), {"platform"}),
    (
        "commonAnnotations",
        ("--set", "commonAnnotations.owner=platform"),
        _every_object("annotations", "owner"),
        {"platform"},
    ),
    (
        "podLabels",
        ("--set", "podLabels.team=platform"),
        lambda docs: [labels.get("team") for labels in _every_pod_metadata("labels")(docs)],
        ["platform"] * 3,
    ),
    (
        "podAnnotations",
        ("--set", "podAnnotations.owner=platform"),
        _every_pod_metadata("annotations"),
        [{"owner": "platform"}] * 3,
    ),
    ("nodeSelector", ("--set", "nodeSelector.pool=system"), _every_pod("nodeSelector"), [{"pool": "system"}] * 3),
    (
        "tolerations",
        ("--set-json", 'tolerations=[{"key":"dedicated","operator":"Exists"}]'),
        _every_pod("tolerations"),
        [[{"key": "dedicated", "operator": "Exists"}]] * 3,
    ),
    (
        "affinity",
        ("--set-json", 'affinity={"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[]}}'),
        _every_pod("affinity"),
        [{"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}] * 3,
    ),
    (
        "priorityClassName",
        ("--set", "priorityClassName=system-cluster-critical"),
        _every_pod("priorityClassName"),
        ["system-cluster-critical"] * 3,
    ),
]


@pytest.fixture(scope="module")
def defaults(helm: Callable[..., subprocess.CompletedProcess[str]]) -> list[Obj]:
    return template(helm)


@pytest.mark.parametrize(("args", "observe", "expected"), [e[1:] for e in EFFECTS], ids=[e[0] for e in EFFECTS])
def test_every_value_has_an_effect(
    helm: Callable[..., subprocess.CompletedProcess[str]],
    defaults: list[Obj],
    args: tuple[str, ...],
    observe: Callable[[list[Obj]], Any],
    expected: Any,
) -> None:
    assert observe(defaults) != expected
    assert observe(template(helm, *args)) == expected


def leaf_values(values: Obj, prefix: str = "") -> set[str]:
    """Every value's path in values.yaml: a mapping that is not empty is a group of values, anything else one."""
    paths = set()
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in ("resources",):
            paths |= leaf_values(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def test_every_value_in_values_yaml_is_tested_above() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    tested = {e[0] for e in EFFECTS}
    untested = {path for path in leaf_values(values) if not any(path.startswith(t) for t in tested)}
    assert not untested, f"values without a test of their effect: {sorted(untested)}"


def test_every_value_is_in_the_schema_and_the_readme() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    assert schema["additionalProperties"] is False
    assert set(values) == set(schema["properties"]) - {"global"}
    for key in values:
        assert f"`{key}" in readme, f"{key} is not in the chart's README"


# -- the schema ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("replicas=abc", "at '/replicas': got string, want integer"),
        ("replicas=0", "at '/replicas'"),
        ("replica=3", "additional properties 'replica' not allowed"),
        ("webhook.failurePolicy=Sometimes", "at '/webhook/failurePolicy'"),
        ("webhook.timeoutSeconds=31", "at '/webhook/timeoutSeconds'"),
        ("settings.logLevel=LOUD", "at '/settings/logLevel'"),
        ("settings.threads=1", "at '/settings/threads'"),
        ("settings.renewFraction=often", "at '/settings/renewFraction'"),
        ("image.digest=latest", "at '/image/digest'"),
        ("metacontroller.namespace=Not_A_Namespace", "at '/metacontroller/namespace'"),
        ("certManager.enabled=maybe", "at '/certManager/enabled'"),
    ],
)
def test_the_schema_refuses_bad_values_with_a_clear_error(
    helm: Callable[..., subprocess.CompletedProcess[str]], value: str, said: str
) -> None:
    done = helm("template", RELEASE, str(CHART), "--namespace", NS, "--set", value)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr
    assert said in done.stderr, done.stderr
