"""The mutating webhook: mount the Secrets of the imports a pod asks for by annotation.

admission.k8s.io/v1: the response echoes request.uid and carries a base64 JSONPatch. The patch is
idempotent (a pod that already has a volume or mount gets no second one) and never rejects a pod for
a Secret that does not exist yet: like any secret volume, the pod waits for it.
"""

import base64
import logging
from dataclasses import dataclass
from typing import Final

import orjson

from . import contract, names
from .wire import (
    AdmissionResponse,
    AdmissionReviewResponse,
    BadRequest,
    Obj,
    PatchOperation,
    mapping,
    optional_mapping,
    require_mapping,
)

log = logging.getLogger(__name__)

ADMISSION_API_VERSION: Final = "admission.k8s.io/v1"
TRUE_VALUES, FALSE_VALUES = ("true",), ("false", "")


@dataclass(frozen=True)
class Review:
    uid: str
    operation: str
    kind: str
    namespace: str
    pod: Obj

    @property
    def pod_name(self) -> str:
        meta = mapping(self.pod.get("metadata"))
        return str(meta.get("name") or meta.get("generateName") or "")


def parse_review(body: object) -> Review:
    """The parts of an AdmissionReview this webhook reads, or BadRequest."""
    review = require_mapping(body, "request body")
    if review.get("apiVersion") != ADMISSION_API_VERSION or review.get("kind") != "AdmissionReview":
        raise BadRequest(
            f"expected an AdmissionReview of apiVersion {ADMISSION_API_VERSION}, got kind "
            f"{review.get('kind')!r} of apiVersion {review.get('apiVersion')!r}; set admissionReviewVersions: [v1]"
        )
    request = require_mapping(review.get("request"), "request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest("request.uid must be a non-empty string")
    kind = optional_mapping(request.get("kind"), "request.kind")
    return Review(
        uid=uid,
        operation=str(request.get("operation") or ""),
        kind=str(kind.get("kind") or ""),
        namespace=str(request.get("namespace") or ""),
        pod=optional_mapping(request.get("object"), "request.object"),
    )


def requested_imports(annotations: Obj) -> list[str]:
    """Names in the pod annotation: comma-separated, whitespace trimmed, empty and repeated ones dropped."""
    value = annotations.get(contract.IMPORT_NAME_KEY)
    if not isinstance(value, str):
        return []
    seen: dict[str, None] = {}
    for part in value.split(","):
        if part := part.strip():
            seen.setdefault(part, None)
    return list(seen)


def _deny(uid: str, message: str) -> AdmissionResponse:
    return {"uid": uid, "allowed": False, "status": {"code": 400, "reason": "BadRequest", "message": message}}


def _append(ops: list[PatchOperation], parent: Obj, path: str, key: str, items: list[Obj]) -> None:
    """JSON Patch operations that append items to parent[key] (at path), creating the list if it is
    missing or null."""
    if not items:
        return
    if isinstance(parent.get(key), list):
        ops.extend({"op": "add", "path": f"{path}/{key}/-", "value": item} for item in items)
    else:
        ops.append({"op": "add", "path": f"{path}/{key}", "value": items})


def plugin_init_container(image: str) -> Obj:
    """The init container that copies the credential plugin into its volume: from a static image (no shell),
    as little as it needs, and within the `restricted` Pod Security Standard whatever the pod's own settings
    (its user is the image's, so that platforms which assign user IDs may)."""
    return {
        "name": contract.CREDENTIAL_PLUGIN_NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--install", contract.CREDENTIAL_PLUGIN_DIR],
        "volumeMounts": [{"name": contract.CREDENTIAL_PLUGIN_NAME, "mountPath": contract.CREDENTIAL_PLUGIN_DIR}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "16Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


#: The plugin's volume: an emptyDir, a few times the plugin's size.
PLUGIN_VOLUME: Final = {"name": contract.CREDENTIAL_PLUGIN_NAME, "emptyDir": {"sizeLimit": "16Mi"}}
PLUGIN_MOUNT: Final = {
    "name": contract.CREDENTIAL_PLUGIN_NAME,
    "mountPath": contract.CREDENTIAL_PLUGIN_DIR,
    "readOnly": True,
}


def patch_operations(
    pod: Obj, imports: list[str], set_kubeconfig: bool, plugin_image: str = ""
) -> list[PatchOperation]:
    """The JSON Patch that gives pod a volume per import, mounted read-only in every (init) container
    (and KUBECONFIG, if set_kubeconfig, where unset); with plugin_image, also the credential plugin: an
    init container, first, that installs it in a volume mounted read-only in the other containers. Built
    directly rather than by diffing a mutated copy: the diff was 90% of the webhook's time on a realistic
    pod (see bench/). Nothing that is already there is added again, so the patch of a mutated pod is empty."""
    ops: list[PatchOperation] = []
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        ops.append({"op": "add", "path": "/spec", "value": {}})
        spec = {}
    volumes = spec.get("volumes")
    have = {v.get("name") for v in volumes if isinstance(v, dict)} if isinstance(volumes, list) else set()
    new_volumes, mounts = [], []
    for name in imports:
        volume = names.volume_name(name)
        if volume not in have:
            new_volumes.append({"name": volume, "secret": {"secretName": names.secret_name(name)}})
            have.add(volume)
        mounts.append({"name": volume, "mountPath": f"{contract.MOUNT_ROOT}/{name}", "readOnly": True})
    kubeconfig_key = contract.CONFIG_KEY
    init_containers = spec.get("initContainers")
    installer = None
    if plugin_image:
        kubeconfig_key = contract.EXEC_CONFIG_KEY
        if PLUGIN_VOLUME["name"] not in have:
            new_volumes.append(PLUGIN_VOLUME)
        installed = isinstance(init_containers, list) and any(
            isinstance(c, dict) and c.get("name") == contract.CREDENTIAL_PLUGIN_NAME for c in init_containers
        )
        if not installed:
            installer = plugin_init_container(plugin_image)
        mounts.append(PLUGIN_MOUNT)
    _append(ops, spec, "/spec", "volumes", new_volumes)
    kubeconfig = ":".join(f"{contract.MOUNT_ROOT}/{name}/{kubeconfig_key}" for name in imports)
    for key in ("initContainers", "containers"):
        containers = spec.get(key)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if not isinstance(container, dict) or container.get("name") == contract.CREDENTIAL_PLUGIN_NAME:
                continue
            path = f"/spec/{key}/{index}"
            existing = container.get("volumeMounts")
            paths = (
                {m.get("mountPath") for m in existing if isinstance(m, dict)} if isinstance(existing, list) else set()
            )
            _append(ops, container, path, "volumeMounts", [m for m in mounts if m["mountPath"] not in paths])
            if set_kubeconfig:
                env = container.get("env")
                if not isinstance(env, list) or not any(
                    isinstance(e, dict) and e.get("name") == contract.KUBECONFIG_ENV for e in env
                ):
                    _append(ops, container, path, "env", [{"name": contract.KUBECONFIG_ENV, "value": kubeconfig}])
    # Last, so that the operations above still find the init containers at their indexes.
    if installer is not None:
        if isinstance(init_containers, list):
            ops.append({"op": "add", "path": "/spec/initContainers/0", "value": installer})
        else:
            ops.append({"op": "add", "path": "/spec/initContainers", "value": [installer]})
    return ops


def admit(review: Review, plugin_image: str = "") -> tuple[AdmissionResponse, list[str]]:
    """The AdmissionResponse for review, and the imports it mounted (for the log). With plugin_image, pods that
    mount imports get the credential plugin too."""
    if review.kind != "Pod" or review.operation != "CREATE":
        return {"uid": review.uid, "allowed": True}, []
    metadata = review.pod.get("metadata", {})
    annotations = metadata.get("annotations", {}) if isinstance(metadata, dict) else None
    if annotations is None and isinstance(metadata, dict):
        annotations = {}
    if not isinstance(annotations, dict):
        return _deny(review.uid, "the pod's metadata and metadata.annotations must be maps"), []
    imports = requested_imports(annotations)
    if not imports:
        return {"uid": review.uid, "allowed": True}, []
    bad = [n for n in imports if not names.is_dns1123_subdomain(n)]
    if bad:
        return _deny(
            review.uid,
            f"annotation {contract.IMPORT_NAME_KEY} names {', '.join(repr(b) for b in bad)}, which "
            f"{'is not a ServiceAccountImport name' if len(bad) == 1 else 'are not ServiceAccountImport names'} "
            "(lowercase RFC 1123 subdomains); list import names separated by commas",
        ), []
    opt_in = str(annotations.get(contract.KUBECONFIG_ENV_ANNOTATION, "")).strip().lower()
    if opt_in not in TRUE_VALUES + FALSE_VALUES:
        return _deny(
            review.uid,
            f'annotation {contract.KUBECONFIG_ENV_ANNOTATION} must be "true" or "false", '
            f"got {annotations[contract.KUBECONFIG_ENV_ANNOTATION]!r}",
        ), []
    patch = patch_operations(review.pod, imports, set_kubeconfig=opt_in in TRUE_VALUES, plugin_image=plugin_image)
    response: AdmissionResponse = {"uid": review.uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(patch)).decode()
    return response, imports


def review_response(response: AdmissionResponse) -> AdmissionReviewResponse:
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
