"""The webhook's pure logic: admission.k8s.io/v1 AdmissionResponse with an idempotent JSONPatch."""

import base64
import copy
import json
from typing import Any

import jsonpatch
import pytest

from hooks import contract
from hooks.mutate import admit, parse_review, requested_imports
from hooks.names import is_dns1123_label
from hooks.wire import BadRequest, Obj

ROOT = "/var/run/secrets/admiralty.io/serviceaccountimports"


def pod(annotation: str | None = None, containers: int = 1, init: int = 0, **extra_annotations: str) -> Obj:
    annotations = dict(extra_annotations)
    if annotation is not None:
        annotations[contract.IMPORT_NAME_KEY] = annotation
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "multicluster-client-", "namespace": "default", "annotations": annotations},
        "spec": {
            "containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)],
            **({"initContainers": [{"name": f"i{i}", "image": "busybox"} for i in range(init)]} if init else {}),
        },
    }


def review(obj: Obj, operation: str = "CREATE", uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002") -> Obj:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": operation,
            "object": obj,
        },
    }


def run(obj: Obj, operation: str = "CREATE", plugin_image: str = "") -> tuple[Obj, Any]:
    """(the admitted pod after applying the patch, the AdmissionResponse)."""
    response, _ = admit(parse_review(review(obj, operation)), plugin_image)
    assert response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"  # echoed, as admission.k8s.io/v1 requires
    if "patch" not in response:
        return obj, response
    assert response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["patch"]))
    return jsonpatch.apply_patch(obj, patch), response


def mounts(obj: Obj, key: str = "containers") -> list[list[tuple[str, str, bool]]]:
    return [
        [(m["name"], m["mountPath"], m.get("readOnly", False)) for m in c.get("volumeMounts", [])]
        for c in obj["spec"][key]
    ]


def test_pod_without_annotation_is_allowed_unchanged() -> None:
    admitted, response = run(pod())
    assert response == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}
    assert admitted == pod()


def test_one_import_mounts_its_secret_read_only_as_a_directory() -> None:
    admitted, response = run(pod("cluster2-default-pod-lister"))
    assert response["allowed"] is True
    assert admitted["spec"]["volumes"] == [
        {"name": "sai-cluster2-default-pod-lister", "secret": {"secretName": "cluster2-default-pod-lister-token"}}
    ]
    assert mounts(admitted) == [[("sai-cluster2-default-pod-lister", f"{ROOT}/cluster2-default-pod-lister", True)]]
    assert "subPath" not in admitted["spec"]["containers"][0]["volumeMounts"][0]  # so token updates reach the pod
    assert "env" not in admitted["spec"]["containers"][0]  # KUBECONFIG only on request


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("a,b", ["a", "b"]),
        (" a , b ,", ["a", "b"]),
        ("a,a,b,a", ["a", "b"]),
        (",,", []),
        ("", []),
    ],
)
def test_annotation_is_comma_separated_trimmed_and_deduplicated(annotation: str, expected: list[str]) -> None:
    assert requested_imports({contract.IMPORT_NAME_KEY: annotation}) == expected


def test_several_imports_mount_in_every_container_and_init_container() -> None:
    admitted, _ = run(pod("cluster2-default-pod-lister, cluster3-default-pod-lister", containers=2, init=1))
    assert [v["name"] for v in admitted["spec"]["volumes"]] == [
        "sai-cluster2-default-pod-lister",
        "sai-cluster3-default-pod-lister",
    ]
    for key in ("containers", "initContainers"):
        for container_mounts in mounts(admitted, key):
            assert [m[1] for m in container_mounts] == [
                f"{ROOT}/cluster2-default-pod-lister",
                f"{ROOT}/cluster3-default-pod-lister",
            ]


def test_mutation_is_idempotent() -> None:
    once, _ = run(pod("a,b", containers=2, init=1))
    twice, response = run(copy.deepcopy(once))
    assert twice == once
    assert "patch" not in response


def test_existing_volumes_and_mounts_are_kept() -> None:
    obj = pod("a")
    obj["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    obj["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    admitted, _ = run(obj)
    assert [v["name"] for v in admitted["spec"]["volumes"]] == ["data", "sai-a"]
    assert [m[1] for m in mounts(admitted)[0]] == ["/data", f"{ROOT}/a"]


@pytest.mark.parametrize("name", ["a" * 253, "team.example.com", "x" * 60, "a.b.c-d"])
def test_volume_names_are_valid_labels_for_long_and_dotted_names(name: str) -> None:
    admitted, _ = run(pod(name))
    [volume] = admitted["spec"]["volumes"]
    assert is_dns1123_label(volume["name"])
    assert admitted["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == f"{ROOT}/{name}"


def test_dotted_and_dashed_names_get_different_volumes() -> None:
    admitted, _ = run(pod("a.b,a-b"))
    names = [v["name"] for v in admitted["spec"]["volumes"]]
    assert len(set(names)) == 2


@pytest.mark.parametrize(
    ("annotation", "bad"),
    [("Cluster2", "'Cluster2'"), ("ok,not_ok", "'not_ok'"), ("a/b", "'a/b'"), ("-x", "'-x'")],
)
def test_invalid_names_are_denied_with_the_bad_value(annotation: str, bad: str) -> None:
    _, response = run(pod(annotation))
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert bad in response["status"]["message"]
    assert contract.IMPORT_NAME_KEY in response["status"]["message"]


def test_kubeconfig_env_is_set_only_on_request_and_only_where_unset() -> None:
    obj = pod("a,b", containers=2, init=1, **{contract.KUBECONFIG_ENV_ANNOTATION: "true"})
    obj["spec"]["containers"][1]["env"] = [{"name": "KUBECONFIG", "value": "/mine"}]
    admitted, _ = run(obj)
    expected = f"{ROOT}/a/config:{ROOT}/b/config"
    assert admitted["spec"]["containers"][0]["env"] == [{"name": "KUBECONFIG", "value": expected}]
    assert admitted["spec"]["containers"][1]["env"] == [{"name": "KUBECONFIG", "value": "/mine"}]
    assert admitted["spec"]["initContainers"][0]["env"] == [{"name": "KUBECONFIG", "value": expected}]


@pytest.mark.parametrize("value", ["false", ""])
def test_kubeconfig_env_off(value: str) -> None:
    admitted, _ = run(pod("a", **{contract.KUBECONFIG_ENV_ANNOTATION: value}))
    assert "env" not in admitted["spec"]["containers"][0]


def test_kubeconfig_env_bad_value_is_denied() -> None:
    _, response = run(pod("a", **{contract.KUBECONFIG_ENV_ANNOTATION: "yes please"}))
    assert response["allowed"] is False and "'yes please'" in response["status"]["message"]


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "CONNECT"])
def test_other_operations_are_allowed_untouched(operation: str) -> None:
    _admitted, response = run(pod("a"), operation)
    assert response == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": ""}},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "x", "object": []}},
    ],
)
def test_malformed_reviews_are_bad_requests(body: object) -> None:
    with pytest.raises(BadRequest):
        parse_review(body)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p["spec"]["containers"][0].update(volumeMounts=None),
        lambda p: p["spec"]["containers"][0].update(env=None),
        lambda p: p["spec"].update(volumes=None),
        lambda p: p["spec"].update(initContainers=None),
    ],
)
def test_null_lists_are_treated_as_empty(mangle: Any) -> None:
    obj = pod("a", **{contract.KUBECONFIG_ENV_ANNOTATION: "true"})
    mangle(obj)
    admitted, response = run(obj)
    assert response["allowed"] is True
    assert [v["name"] for v in admitted["spec"]["volumes"]] == ["sai-a"]
    assert mounts(admitted)[0] == [("sai-a", f"{ROOT}/a", True)]


def test_pod_without_spec_gets_the_volume() -> None:
    obj = pod("a")
    obj["spec"] = None
    admitted, response = run(obj)
    assert response["allowed"] is True and admitted["spec"]["volumes"][0]["name"] == "sai-a"


@pytest.mark.parametrize("metadata", [[], "x", {"annotations": []}])
def test_malformed_metadata_is_denied(metadata: Any) -> None:
    obj = pod("a")
    obj["metadata"] = metadata
    response, _ = admit(parse_review(review(obj)))
    assert response["allowed"] is False and "must be maps" in response["status"]["message"]


def test_hashed_volume_names_never_equal_plain_ones() -> None:
    from hooks.names import volume_name

    hashed = volume_name("b.c")
    plain_lookalike = hashed.removeprefix("saih-")
    admitted, _ = run(pod(f"b.c,{plain_lookalike}"))
    assert len({v["name"] for v in admitted["spec"]["volumes"]}) == 2


def test_pod_with_no_spec_key_gets_one() -> None:
    obj = pod("a")
    del obj["spec"]
    admitted, response = run(obj)
    assert response["allowed"] is True and admitted["spec"]["volumes"][0]["name"] == "sai-a"


# -- the credential plugin ----------------------------------------------------------------------------

PLUGIN_IMAGE = "registry.example/multicluster-service-account-credential-plugin:0.1.0"
PLUGIN_DIR = "/var/run/secrets/admiralty.io/bin"


def test_plugin_is_installed_first_and_mounted_read_only_everywhere_else() -> None:
    admitted, _ = run(pod("a,b", containers=2, init=1), plugin_image=PLUGIN_IMAGE)
    spec = admitted["spec"]
    assert {"name": "mcsa-credential-plugin", "emptyDir": {"sizeLimit": "16Mi"}} in spec["volumes"]
    installer, *others = spec["initContainers"]
    assert [c["name"] for c in others] == ["i0"]  # the pod's own init containers run after it, with the plugin
    assert installer["name"] == "mcsa-credential-plugin" and installer["image"] == PLUGIN_IMAGE
    assert installer["args"] == ["--install", PLUGIN_DIR]
    assert installer["volumeMounts"] == [{"name": "mcsa-credential-plugin", "mountPath": PLUGIN_DIR}]
    # Within the restricted Pod Security Standard whatever the pod says, with no user ID of its own.
    security = installer["securityContext"]
    assert security["runAsNonRoot"] is True and "runAsUser" not in security
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"} and security["readOnlyRootFilesystem"] is True
    assert set(installer["resources"]) == {"requests", "limits"}  # namespaces with quotas admit it
    plugin = ("mcsa-credential-plugin", PLUGIN_DIR, True)
    assert all(plugin in container for container in mounts(admitted) + mounts(admitted, "initContainers")[1:])


def test_plugin_patch_is_idempotent_and_keeps_the_pods_own_init_containers_in_place() -> None:
    once, _ = run(pod("a", init=2), plugin_image=PLUGIN_IMAGE)
    twice, response = run(copy.deepcopy(once), plugin_image=PLUGIN_IMAGE)
    assert twice == once and "patch" not in response
    assert [c["name"] for c in once["spec"]["initContainers"]] == ["mcsa-credential-plugin", "i0", "i1"]
    # Each of the pod's init containers got its mounts (the operations found them before the insertion).
    assert all(len(container) == 2 for container in mounts(once, "initContainers")[1:])


def test_kubeconfig_env_names_the_exec_configs_when_the_plugin_is_there() -> None:
    obj = pod("a,b")
    obj["metadata"]["annotations"][contract.KUBECONFIG_ENV_ANNOTATION] = "true"
    with_plugin, _ = run(copy.deepcopy(obj), plugin_image=PLUGIN_IMAGE)
    without, _ = run(copy.deepcopy(obj))
    env = {e["name"]: e["value"] for e in with_plugin["spec"]["containers"][0]["env"]}
    assert env["KUBECONFIG"] == f"{ROOT}/a/exec-config:{ROOT}/b/exec-config"
    env = {e["name"]: e["value"] for e in without["spec"]["containers"][0]["env"]}
    assert env["KUBECONFIG"] == f"{ROOT}/a/config:{ROOT}/b/config"


def test_no_plugin_without_imports_or_without_an_image() -> None:
    admitted, _ = run(pod(), plugin_image=PLUGIN_IMAGE)
    assert admitted == pod()
    admitted, _ = run(pod("a"))
    assert "initContainers" not in admitted["spec"]
    assert [v["name"] for v in admitted["spec"]["volumes"]] == ["sai-a"]
