"""The install on real API servers: manifests, the certificate step and its RBAC, the hooks' pod spec."""

import shlex
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client as k8s

from hooks import contract
from tests.testbed.bed import Bed
from tests.testbed.cluster import REPO
from tests.testbed.scenario import (
    CERTIFICATES_SA,
    NEVER_SCHEDULED,
    WEBHOOK,
    certify,
    enable_namespace,
    eventually,
    install,
    kubectl,
    serving_files_from_cluster,
    tls_secret,
)

NS = contract.CREDENTIALS_NAMESPACE
HOOKS_SA = f"system:serviceaccount:{NS}:multicluster-service-account-hooks"


def can(bed: Bed, user: str, *args: str) -> str:
    return kubectl(
        bed.kubeconfig, "--context", "cluster1", "auth", "can-i", "--as", user, *args, check=False
    ).stdout.strip()


def test_the_certificate_step_is_safe_to_run_again(testbed: Bed) -> None:
    core = k8s.CoreV1Api(testbed.api1)
    version = core.read_namespaced_secret("multicluster-service-account-hooks-tls", NS).metadata.resource_version
    again = testbed.certify()
    assert "kept" in again and "is up to date" in again
    assert (
        core.read_namespaced_secret("multicluster-service-account-hooks-tls", NS).metadata.resource_version == version
    )


def test_renewal_keeps_the_ca_and_the_hooks_serve_the_new_certificate(testbed: Bed) -> None:
    before = tls_secret(testbed.api1)
    renewed = testbed.certify("--renew-before-days", "400")
    assert "issued a serving certificate" in renewed
    after = tls_secret(testbed.api1)
    assert after["tls.crt"] != before["tls.crt"] and after["ca.crt"] == before["ca.crt"]
    # The kubelet updates the mounted Secret (on the kubelet-less bed: this test writes the files); the
    # hooks load the new files at the next connection.
    if testbed.node is None:
        serving_files_from_cluster(testbed.api1, testbed.files.cert.parent)
    new = x509.load_pem_x509_certificate(after["tls.crt"]).public_bytes(Encoding.DER)
    # Through the Service, connections reach either replica: both must serve it, a few times in a row.
    eventually(
        lambda: all(testbed.hooks.served_certificate() == new for _ in range(6)),
        "the hooks to serve the renewed certificate (the kubelet refreshes mounted Secrets within about a minute)",
        timeout=180,
        interval=2,
    )
    enable_namespace(testbed.api1, "renewed")
    pod = {
        "metadata": {"name": "p", "annotations": {contract.IMPORT_NAME_KEY: "x"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **NEVER_SCHEDULED},
    }
    stored = k8s.CoreV1Api(testbed.api1).create_namespaced_pod("renewed", pod)  # the API server calls the webhook
    assert any(v.name == "sai-x" for v in stored.spec.volumes)


def test_rbac_is_exactly_what_each_part_needs(testbed: Bed) -> None:
    # The certificate step: its two Secrets and the webhook configuration, by name, nothing else.
    assert can(testbed, CERTIFICATES_SA, "patch", "secrets/multicluster-service-account-hooks-tls", "-n", NS) == "yes"
    assert can(testbed, CERTIFICATES_SA, "patch", f"mutatingwebhookconfigurations/{WEBHOOK}") == "yes"
    assert can(testbed, CERTIFICATES_SA, "get", "secrets/cluster-cluster2", "-n", NS) == "no"
    assert can(testbed, CERTIFICATES_SA, "list", "secrets", "-n", NS) == "no"
    assert can(testbed, CERTIFICATES_SA, "create", "secrets", "-n", NS) == "no"
    assert can(testbed, CERTIFICATES_SA, "patch", "mutatingwebhookconfigurations/other") == "no"
    # The hooks: nothing at all.
    for args in (("get", "secrets", "-A"), ("list", "serviceaccountimports", "-A"), ("create", "pods", "-n", NS)):
        assert can(testbed, HOOKS_SA, *args) == "no"


def test_the_hooks_pod_is_restricted(testbed: Bed) -> None:
    deployment = k8s.AppsV1Api(testbed.api1).read_namespaced_deployment("multicluster-service-account-hooks", NS)
    pod = deployment.spec.template.spec
    assert deployment.spec.replicas == 2
    assert pod.automount_service_account_token is False
    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    [container] = pod.containers
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.requests and container.resources.limits["memory"]
    assert container.readiness_probe.http_get.scheme == "HTTPS" and container.liveness_probe.http_get.path == "/healthz"
    assert pod.topology_spread_constraints
    pdb = k8s.PolicyV1Api(testbed.api1).read_namespaced_pod_disruption_budget("multicluster-service-account-hooks", NS)
    assert pdb.spec.min_available == 1
    # The webhook never applies to the install namespace, where the hooks themselves run.
    webhook = k8s.AdmissionregistrationV1Api(testbed.api1).read_mutating_webhook_configuration(WEBHOOK).webhooks[0]
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NS]} in [
        e.to_dict() for e in webhook.namespace_selector.match_expressions
    ]
    assert (webhook.failure_policy, webhook.side_effects, webhook.admission_review_versions) == ("Fail", "None", ["v1"])


POD_SECURITY = ("enforce", "audit", "warn")


def documented_labelling() -> list[str]:
    """The command docs/install.md gives Helm users to label the namespace, as a kubectl argument list."""
    text = (REPO / "docs" / "install.md").read_text()
    block = text.split("<!-- pod-security-labels:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return shlex.split(block.replace("\\\n", " "))


def test_the_install_namespace_enforces_the_restricted_pod_security_standard(testbed: Bed) -> None:
    # The labels the manifests set, and the command the docs give Helm users sets them the same (a no-op here).
    command = documented_labelling()
    assert command[:3] == ["kubectl", "--context", "cluster1"]
    kubectl(testbed.kubeconfig, *command[1:])
    labels = k8s.CoreV1Api(testbed.api1).read_namespace(NS).metadata.labels
    assert {mode: labels.get(f"pod-security.kubernetes.io/{mode}") for mode in POD_SECURITY} == dict.fromkeys(
        POD_SECURITY, "restricted"
    )
    # The API server checks every pod template the install has against the namespace's level (warn), so a
    # server-side dry run of them (hooks, certificate Job, CronJob) says if any would be refused.
    rendered = yaml.safe_load_all(kubectl(Path("/dev/null"), "kustomize", str(REPO / "manifests")).stdout)
    workloads = [doc for doc in rendered if doc["kind"] in ("Deployment", "Job", "CronJob")]
    assert sorted(doc["kind"] for doc in workloads) == ["CronJob", "Deployment", "Job"]
    applied = kubectl(testbed.kubeconfig, "--context", "cluster1", "apply", "--dry-run=server", "-f", "-",
                      stdin=yaml.safe_dump_all(workloads))  # fmt: skip
    assert "PodSecurity" not in applied.stderr, applied.stderr
    # It would say so: a template that is not restricted.
    unrestricted = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "unrestricted", "namespace": NS},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}},
    }
    refused = kubectl(testbed.kubeconfig, "--context", "cluster1", "apply", "--dry-run=server", "-f", "-",
                      stdin=yaml.safe_dump(unrestricted))  # fmt: skip
    assert 'would violate PodSecurity "restricted:latest"' in refused.stderr, refused.stderr


def test_applying_the_manifests_again_keeps_the_certificate_and_ca_bundle(testbed: Bed) -> None:
    # On cluster2, where nothing imports: install, certify, apply again both ways.
    install(testbed.kubeconfig, "cluster2")
    try:
        certify(testbed.kubeconfig, "cluster2")
        before = tls_secret(testbed.api2)
        bundle = k8s.AdmissionregistrationV1Api(testbed.api2).read_mutating_webhook_configuration(WEBHOOK)
        for args in (["apply", "--server-side", "-k"], ["apply", "-k"]):
            kubectl(testbed.kubeconfig, "--context", "cluster2", *args, str(REPO / "manifests"))
            assert tls_secret(testbed.api2) == before
            again = k8s.AdmissionregistrationV1Api(testbed.api2).read_mutating_webhook_configuration(WEBHOOK)
            assert again.webhooks[0].client_config.ca_bundle == bundle.webhooks[0].client_config.ca_bundle
    finally:
        # Not `delete -k`: the namespace also holds cluster2's importer identity for cluster1.
        kubectl(testbed.kubeconfig, "--context", "cluster2", "delete", "mutatingwebhookconfiguration", WEBHOOK)


def test_cert_manager_overlay_swaps_the_certificate_step_for_cert_manager(tmp_path: Path) -> None:
    rendered = kubectl(Path("/dev/null"), "kustomize", str(REPO / "manifests" / "cert-manager")).stdout
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(rendered)}
    assert ("Certificate", "multicluster-service-account-hooks") in kinds
    assert not [k for k in kinds if "certificates" in k[1] or k[0] in ("Job", "CronJob", "Role", "ClusterRole")]
    webhook = next(d for d in yaml.safe_load_all(rendered) if d["kind"] == "MutatingWebhookConfiguration")
    assert (
        webhook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        == f"{NS}/multicluster-service-account-hooks"
    )
    certificate = next(
        d for d in yaml.safe_load_all(rendered) if d["kind"] == "Certificate" and not d["spec"].get("isCA")
    )
    assert certificate["spec"]["secretName"] == "multicluster-service-account-hooks-tls"


def test_every_image_is_the_one_kustomize_name() -> None:
    rendered = kubectl(Path("/dev/null"), "kustomize", str(REPO / "manifests")).stdout
    images = {line.split("image:")[1].strip() for line in rendered.splitlines() if "image:" in line}
    assert images == {"ghcr.io/admiraltyio/multicluster-service-account:0.7.0"}


def test_the_readmes_metacontroller_overlay_sets_the_recommended_flags(tmp_path: Path) -> None:
    """The README's kustomization for Metacontroller's own install, rendered over a stand-in for that install
    (its StatefulSet as v4.17.2's manifests/production make it: name, namespace, container, args), since the
    upstream URL cannot be fetched here."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- metacontroller-flags:")[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    overlay = yaml.safe_load(block)
    [upstream] = overlay["resources"]
    assert upstream.startswith("https://github.com/metacontroller/metacontroller/manifests/production?ref=v4.17.2")
    overlay["resources"] = ["upstream.yaml"]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    stand_in = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "metacontroller", "namespace": "metacontroller"},
        "spec": {"selector": {"matchLabels": {"app": "m"}}, "serviceName": "", "template": {
            "metadata": {"labels": {"app": "m"}},
            "spec": {"containers": [{"name": "metacontroller", "image": "metacontroller:v4.17.2",
                                     "args": ["--zap-log-level=4", "--discovery-interval=20s"]}]},
        }},
    }  # fmt: skip
    (tmp_path / "upstream.yaml").write_text(yaml.safe_dump(stand_in))
    rendered = yaml.safe_load(kubectl(Path("/dev/null"), "kustomize", str(tmp_path)).stdout)
    [container] = rendered["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "--zap-log-level=4", "--discovery-interval=20s",
        "--client-go-qps=50", "--client-go-burst=100", "--workers=16",
    ]  # fmt: skip
