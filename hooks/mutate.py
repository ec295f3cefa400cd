"""The mutating webhook: mount the Secrets of the imports a pod asks for by annotation.

admission.k8s.io/v1: the response echoes request.uid and carries a base64 JSONPatch. The patch is
idempotent (a pod that already has a volume or mount gets no second one) and never rejects a pod for
a Secret that does not exist yet: like any secret volume, the pod waits for it.
"""

import base64
import copy
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import jsonpatch

from . import contract, names
from .wire import (
    AdmissionResponse,
    AdmissionReviewResponse,
    BadRequest,
    Obj,
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


def _list(obj: Obj, key: str) -> list[Any]:
    """obj[key] as a list, made an empty one if it is missing or null."""
    value = obj.get(key)
    if not isinstance(value, list):
        value = obj[key] = []
    return value


def _mount_into(container: Obj, mounts: list[Obj], kubeconfig: str | None) -> None:
    existing = _list(container, "volumeMounts")
    paths = {m.get("mountPath") for m in existing if isinstance(m, dict)}
    existing.extend(m for m in mounts if m["mountPath"] not in paths)
    if kubeconfig is not None:
        env = _list(container, "env")
        if not any(isinstance(e, dict) and e.get("name") == contract.KUBECONFIG_ENV for e in env):
            env.append({"name": contract.KUBECONFIG_ENV, "value": kubeconfig})


def mutated_pod(pod: Obj, imports: list[str], set_kubeconfig: bool) -> Obj:
    """A copy of pod with a volume per import, mounted read-only in every (init) container."""
    mutated = copy.deepcopy(pod)
    if not isinstance(mutated.get("spec"), dict):
        mutated["spec"] = {}
    spec = mutated["spec"]
    volumes = _list(spec, "volumes")
    have = {v.get("name") for v in volumes if isinstance(v, dict)}
    mounts = []
    for name in imports:
        volume = names.volume_name(name)
        if volume not in have:
            volumes.append({"name": volume, "secret": {"secretName": names.secret_name(name)}})
            have.add(volume)
        mounts.append({"name": volume, "mountPath": f"{contract.MOUNT_ROOT}/{name}", "readOnly": True})
    kubeconfig = ":".join(f"{m['mountPath']}/{contract.CONFIG_KEY}" for m in mounts) if set_kubeconfig else None
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _mount_into(container, mounts, kubeconfig)
    return mutated


def admit(review: Review) -> tuple[AdmissionResponse, list[str]]:
    """The AdmissionResponse for review, and the imports it mounted (for the log)."""
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
    mutated = mutated_pod(review.pod, imports, set_kubeconfig=opt_in in TRUE_VALUES)
    # Only spec changes: diffing it alone (not the whole pod) is the cheaper patch to compute.
    spec = review.pod.get("spec")
    if isinstance(spec, dict):
        patch = [{**op, "path": "/spec" + op["path"]} for op in jsonpatch.make_patch(spec, mutated["spec"]).patch]
    else:
        patch = [{"op": "add", "path": "/spec", "value": mutated["spec"]}]
    response: AdmissionResponse = {"uid": review.uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    return response, imports


def review_response(response: AdmissionResponse) -> AdmissionReviewResponse:
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
