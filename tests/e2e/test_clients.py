"""Every client keeps working across token renewals: the real client libraries, each one long-running process
that loads its kubeconfig once (as the README's table says to point it), list cluster2's pods every few
seconds while the hooks renew a 600-s token every 60 s (MCSA_RENEW_FRACTION=0.1), past the moment the first
token stops being valid.

- On this machine: client-go, the official Python client (sync and kubernetes.aio), client-node, kube-rs,
  the official Java client and fabric8, as built by tests/tools/build-clients.sh, read the import's files
  mirrored at the mount path as the kubelet writes a Secret volume (the `..data` swap), with the credential
  plugin where the webhook's init container puts it.
- On cluster1's node, in one pod, with the kubelet's own secret-volume refresh and the plugin installed by
  the injected init container: kubectl and the project's library on `config`, the official Python client
  and client-go on `exec-config`, client-go in an image with no shell and no libc (the pause image).

And the integrations' consumers, as docs/argocd.md and docs/clusterprofile.md set them up (executed):
- Argo CD's own code (argo-cd/v3 util/db: WatchClusters, SecretToCluster, Cluster.RESTConfig, as its
  application controller uses them) on an import with spec.argoCD in namespace argocd, on this machine;
- a ClusterProfile consumer built from sigs.k8s.io/cluster-inventory-api (the generated clientset,
  access.NewFromFile with the shipped provider file, BuildConfigFromCP) on the ClusterProfile that
  `kubemcsa bootstrap --cluster-profile` published, running the credential plugin's --imports-dir mode: on
  this machine, and in the pod (in-cluster, with the plugin the webhook installs).

No call may fail; cluster2's audit log shows which token each call presented: every client switches to
newer tokens, never presents one past its expiry, and the delay from a token's issue to each client's first
use of it is printed (the README's table).
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client as k8s

from hooks import contract
from tests.testbed.bed import Bed
from tests.testbed.clients import (
    CLIENT_KUBECONFIGS,
    ClientRun,
    SecretMirror,
    audited_calls,
    build_plugin,
    client_commands,
    install_plugin,
    start_client,
)
from tests.testbed.scenario import HOOKS, eventually, kubectl

from . import integrations
from .helpers import GROUP, VERSION, synced_import

pytestmark = pytest.mark.node
NS = "renewal"
IMPORT = "renewal"
IMAGE = "ghcr.io/admiraltyio/multicluster-service-account-example-multicluster-client:0.7.0"
#: 600 s tokens (the least a TokenRequest grants), renewed after 10% of that: every 60 s.
RENEW_FRACTION = "0.1"
DIRECTORY = f"{contract.MOUNT_ROOT}/{IMPORT}"
CONFIG, EXEC_CONFIG = f"{DIRECTORY}/{contract.CONFIG_KEY}", f"{DIRECTORY}/{contract.EXEC_CONFIG_KEY}"
HOST_CLIENTS = {name: f"{DIRECTORY}/{key}" for name, key in CLIENT_KUBECONFIGS.items()}
INTERVAL = 2.0
POD_CLIENTS = ("pod-kubectl", "pod-library", "pod-python", "pod-client-go", "pod-clusterprofile")
#: The integrations' consumers on this machine: each one's label, and its import's namespace and name.
CONSUMERS = {"argocd": (integrations.ARGOCD_NS, "cluster2"), "clusterprofile": (NS, IMPORT)}


def reports_no_call(fields: list[str]) -> bool:
    """A line of a client's output about no call: the cluster a consumer built its client for, or Argo CD's own
    log at level info."""
    return fields[1:2] in (["profile"], ["cluster"]) or (fields[1:2] == ["log"] and fields[2].startswith("info "))


PROVIDER_FILE_DIR = "/etc/clusterprofile"
#: What the client test adds to the Argo CD import's spec.argoCD while Argo CD watches it.
ARGOCD_MORE = {"project": "team-a", "namespaces": [NS], "clusterResources": True}
#: How long past the first token's expiry the clients keep calling.
PAST_EXPIRY_SECONDS = 30

KUBECTL_LOOP = f"""
while true; do
  if out=$(/opt/kubectl/kubectl --kubeconfig {CONFIG} get pods -l mcsa-client=pod-kubectl -o name 2>&1); then
    echo "$(date +%s) ok $(echo $out | wc -w)"
  else
    echo "$(date +%s) fail $(echo "$out" | head -c 200)"
  fi
  sleep {INTERVAL:g}
done
"""

LIBRARY_LOOP = f"""
import time
from kubernetes import client
from multicluster_service_account import named_service_account_import_config_and_namespace

configuration, namespace = named_service_account_import_config_and_namespace("{IMPORT}")  # loaded once
with client.ApiClient(configuration) as api:
    while True:
        try:
            pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="mcsa-client=pod-library")
            print(int(time.time()), "ok", len(pods.items), flush=True)
        except Exception as err:  # noqa: BLE001
            print(int(time.time()), "fail", type(err).__name__, str(err)[:200].replace("\\n", " "), flush=True)
        time.sleep({INTERVAL:g})
"""


@contextmanager
def hooks_renewing_at(bed: Bed, fraction: str) -> Iterator[None]:
    """The hooks Deployment with MCSA_RENEW_FRACTION set, as an admin sets it; unset afterwards."""
    deployment = ["--context", "cluster1", "-n", contract.CREDENTIALS_NAMESPACE]
    rollout = [*deployment, "rollout", "status", "--timeout=180s", f"deploy/{HOOKS}"]
    kubectl(bed.kubeconfig, *deployment, "set", "env", f"deploy/{HOOKS}", f"MCSA_RENEW_FRACTION={fraction}")
    kubectl(bed.kubeconfig, *rollout)
    try:
        yield
    finally:
        kubectl(bed.kubeconfig, *deployment, "set", "env", f"deploy/{HOOKS}", "MCSA_RENEW_FRACTION-")
        kubectl(bed.kubeconfig, *rollout)


def client_args(label: str, kubeconfig: str) -> list[str]:
    return ["--kubeconfig", kubeconfig, "--namespace", NS, "--label", label, "--interval", f"{INTERVAL:g}"]


def clients_pod(bed: Bed, commands: dict[str, list[str]]) -> dict:
    assert bed.node is not None
    python_client = Path(commands["python"][-1]).read_text()
    client_go = Path(commands["client-go"][0])
    consumer = Path(commands["clusterprofile"][0])
    provider_file = f"{PROVIDER_FILE_DIR}/{integrations.PROVIDER_FILE.name}"
    mounts = {"kubectl": "/opt/kubectl", "clients": "/opt/clients", "consumer": "/opt/consumer"}
    return {
        "metadata": {"name": "clients", "annotations": {contract.IMPORT_NAME_KEY: IMPORT}},
        "spec": {
            # The ClusterProfile consumer's, as docs/clusterprofile.md gives it: it reads the ClusterProfile.
            "serviceAccountName": "fleet-consumer",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "pod-kubectl",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", KUBECTL_LOOP],
                    "env": [{"name": "HOME", "value": "/tmp"}],
                    "volumeMounts": [
                        {"name": "kubectl", "mountPath": mounts["kubectl"], "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                },
                {
                    "name": "pod-library",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", LIBRARY_LOOP],
                },
                {
                    "name": "pod-python",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", python_client, *client_args("pod-python", EXEC_CONFIG)],
                },
                {
                    # No shell, no libc, no cat: only the static client and the plugin the webhook installs.
                    "name": "pod-client-go",
                    "image": bed.node.sandbox_image(),
                    "imagePullPolicy": "IfNotPresent",
                    "command": [f"{mounts['clients']}/{client_go.name}", *client_args("pod-client-go", EXEC_CONFIG)],
                    "volumeMounts": [{"name": "clients", "mountPath": mounts["clients"], "readOnly": True}],
                },
                {
                    # The same, for the ClusterProfile consumer: in-cluster, the provider file from its ConfigMap.
                    "name": "pod-clusterprofile",
                    "image": bed.node.sandbox_image(),
                    "imagePullPolicy": "IfNotPresent",
                    "command": [
                        f"{mounts['consumer']}/{consumer.name}",
                        *("--cluster-profile", integrations.PROFILE, "--clusterprofile-provider-file", provider_file),
                        *client_args("pod-clusterprofile", "")[2:],  # no --kubeconfig: in-cluster
                    ],
                    "volumeMounts": [
                        {"name": "consumer", "mountPath": mounts["consumer"], "readOnly": True},
                        {"name": "provider-file", "mountPath": PROVIDER_FILE_DIR, "readOnly": True},
                    ],
                },
            ],
            "volumes": [
                # The kubectl and client-go built for the test bed, static binaries, from the node.
                {"name": "kubectl", "hostPath": {"path": str(bed.node.bin_dir), "type": "Directory"}},
                {"name": "clients", "hostPath": {"path": str(client_go.parent), "type": "Directory"}},
                {"name": "consumer", "hostPath": {"path": str(consumer.parent), "type": "Directory"}},
                {"name": "provider-file", "configMap": {"name": "clusterprofile-provider-file"}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def pod_lines(bed: Bed, container: str) -> list[list[str]]:
    log = k8s.CoreV1Api(bed.api1).read_namespaced_pod_log("clients", NS, container=container)
    return [line.split(maxsplit=2) for line in log.splitlines() if line.strip()]


def test_every_client_keeps_working_across_renewals(testbed: Bed, tmp_path: Path) -> None:
    assert testbed.node is not None
    commands = client_commands()
    assert set(HOST_CLIENTS) <= set(commands), (
        f"{set(HOST_CLIENTS) - set(commands)} not built: run the tests with `make test` (tests/tools/build-clients.sh)"
    )
    install_plugin(build_plugin(tmp_path / "plugin"))
    core = k8s.CoreV1Api(testbed.api1)
    runs: list[ClientRun] = []
    hub = str(integrations.hub_kubeconfig(testbed, tmp_path))
    consumers = {
        "argocd": [*commands["argocd"], "--argocd-namespace", integrations.ARGOCD_NS, "--cluster", "cluster2"],
        "clusterprofile": [
            *commands["clusterprofile"], "--cluster-profile", integrations.PROFILE,
            "--clusterprofile-provider-file", str(integrations.PROVIDER_FILE),
        ],
    }  # fmt: skip
    with hooks_renewing_at(testbed, RENEW_FRACTION):
        synced_import(testbed, NS, IMPORT, expirationSeconds=600)
        mirror = SecretMirror(testbed.api1, NS, IMPORT, Path(DIRECTORY)).start()
        mirrors = {(NS, IMPORT): mirror}
        driver = testbed.driver().start()  # honours resyncAfterSeconds: the renewals
        try:
            integrations.set_up_argocd(testbed, tmp_path)
            integrations.set_up_clusterprofile(testbed, Path(commands["clusterprofile-crd"][0]), NS)
            argo = SecretMirror(testbed.api1, *CONSUMERS["argocd"], tmp_path / "argocd-secret").start()
            mirrors[CONSUMERS["argocd"]] = argo
            [first] = mirror.tokens.values()
            [argo_first] = argo.tokens.values()
            for name, kubeconfig in HOST_CLIENTS.items():
                runs.append(start_client(name, commands[name], kubeconfig, NS, INTERVAL, tmp_path / "clients"))
            for name, command in consumers.items():
                runs.append(start_client(name, command, hub, NS, INTERVAL, tmp_path / "clients"))
            core.create_namespaced_pod(NS, clients_pod(testbed, commands))
            eventually(
                lambda: core.read_namespaced_pod("clients", NS).status.phase == "Running",
                "the clients' pod to run",
                timeout=120,
                interval=1,
            )
            # The rest of spec.argoCD, set on the running import: Argo CD reads it without a new token.
            patch = json.dumps({"spec": {"argoCD": ARGOCD_MORE}})
            where = ["--context", "cluster1", "-n", integrations.ARGOCD_NS]
            kubectl(testbed.kubeconfig, *where, "patch", f"{contract.PLURAL}/cluster2", "--type=merge", "-p", patch)
            labels = [*HOST_CLIENTS, *POD_CLIENTS, *CONSUMERS]

            def done() -> bool:
                if time.time() < max(first.expires_at, argo_first.expires_at) + PAST_EXPIRY_SECONDS:
                    return False
                calls = audited_calls(testbed.cluster2.audit_log, NS)
                return all(len({c.jti for c in calls.get(label, [])}) >= 2 for label in labels)

            eventually(done, "every client to use two tokens, past the first one's expiry", timeout=1200, interval=5)
            logged = {run.name: run.lines() for run in runs}
            server = Path(DIRECTORY, contract.SERVER_KEY).read_text()
            logged |= {container: pod_lines(testbed, container) for container in POD_CLIENTS}
            status = core.read_namespaced_pod("clients", NS).status
        finally:
            for run in runs:
                run.stop()
            driver.stop()
            for each in mirrors.values():
                each.stop()
            core.delete_namespaced_pod("clients", NS, grace_period_seconds=0)
            # Nothing left for the tests after this one: a driver of theirs would sync it.
            for namespace, name in mirrors:
                k8s.CustomObjectsApi(testbed.api1).delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, contract.PLURAL, name
                )
            for token in (t for each in mirrors.values() for t in each.secrets):
                testbed.tokens.add(token)
            integrations.tear_down_argocd(testbed)
            integrations.tear_down_clusterprofile(testbed, NS)
    assert not driver.errors, driver.errors
    for each in mirrors.values():
        assert not each.errors, each.errors
    restarts = {c.name: c.restart_count for c in status.container_statuses or []}
    assert restarts == dict.fromkeys(POD_CLIENTS, 0), restarts
    [plugin] = status.init_container_statuses or []  # injected by the webhook, and done
    assert plugin.name == contract.CREDENTIAL_PLUGIN_NAME and plugin.state.terminated.exit_code == 0

    calls = audited_calls(testbed.cluster2.audit_log, NS)
    delays: dict[str, list[int]] = {}
    for label in [*HOST_CLIENTS, *POD_CLIENTS, *CONSUMERS]:
        tokens = mirrors[CONSUMERS.get(label, (NS, IMPORT))].tokens  # every token its import's Secret held, by ID
        first = min(tokens.values(), key=lambda t: t.issued_at)
        lines = logged[label]
        failed = [" ".join(fields) for fields in lines if fields[1:2] != ["ok"] and not reports_no_call(fields)]
        assert not failed, f"{label}: {len(failed)} failed calls, first: {failed[:3]}"
        assert len(lines) >= 100, f"{label} made only {len(lines)} calls"
        seen = calls.get(label, [])
        assert seen and all(c.code == 200 for c in seen), f"{label}: {[c for c in seen if c.code != 200][:3]}"
        assert max(c.at for c in seen) > first.expires_at, f"{label} made no call after the first token expired"
        first_use: dict[str, float] = {}
        for call in seen:
            assert call.jti in tokens, f"{label} presented a token the import's Secret never held"
            assert call.at < tokens[call.jti].expires_at, f"{label} presented a token after its expiry"
            first_use.setdefault(call.jti, call.at)
        used = sorted(first_use, key=first_use.__getitem__)
        assert len(used) >= 2, f"{label} presented only {len(used)} token(s)"
        # Never back to an older token once it has a newer one.
        assert [tokens[j].issued_at for j in used] == sorted(tokens[j].issued_at for j in used), label
        delays[label] = [round(first_use[j] - tokens[j].issued_at) for j in used[1:]]
    # Argo CD read the cluster's name and server from its Secret, and rebuilt its client at renewals (as its
    # controller rebuilds its cluster cache); the ClusterProfile consumer got the server from the ClusterProfile.
    built = [json.loads(fields[2]) for fields in logged["argocd"] if fields[1] == "cluster"]
    assert sum(b["newClient"] for b in built) >= 2, built
    assert all((b["name"], b["server"]) == ("cluster2", server) for b in built), built
    more = {k: built[-1][k] for k in ARGOCD_MORE}
    assert more == ARGOCD_MORE, built[-1]
    profiles = [fields[2] for label in ("clusterprofile", "pod-clusterprofile") for fields in logged[label]
                if fields[1] == "profile"]  # fmt: skip
    assert profiles == [f"{integrations.PROFILE} {server}"] * 2, profiles
    report = {label: {"tokens": len(d) + 1, "delays_s": d, "max_delay_s": max(d)} for label, d in delays.items()}
    (testbed.directory / "client-delays.json").write_text(json.dumps(report, indent=2))
    print("seconds from a token's issue to each client's first call with it:")
    for label, row in report.items():
        print(f"  {label:14} {row}")
