"""Wire formats: Metacontroller's v2 hook messages and admission.k8s.io/v1 AdmissionReview.

Kubernetes objects themselves stay plain dicts (`Obj`); only the envelopes this project builds are
typed. Field names follow the upstream definitions exactly:
- Metacontroller: pkg/controller/composite/api/v2 (SyncHookRequest/Response) and
  pkg/controller/common/customize (CustomizeHookResponse, RelatedResourceRule).
- Kubernetes: k8s.io/api/admission/v1 (AdmissionReview, AdmissionResponse).
"""

from typing import Any, Literal, NotRequired, TypedDict

Obj = dict[str, Any]


class BadRequest(ValueError):
    """A request that is not what the endpoint accepts; the HTTP layer answers 400 with this text."""


class LabelSelector(TypedDict):
    matchLabels: dict[str, str]


class RelatedResourceRule(TypedDict):
    apiVersion: str
    resource: str
    namespace: str
    labelSelector: LabelSelector


class CustomizeResponse(TypedDict):
    relatedResources: list[RelatedResourceRule]


class Condition(TypedDict):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: NotRequired[int]


class SyncResponse(TypedDict):
    status: Obj
    children: list[Obj]
    resyncAfterSeconds: float


class PatchOperation(TypedDict):
    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: NotRequired[Any]


class AdmissionStatus(TypedDict):
    code: int
    reason: str
    message: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    patchType: NotRequired[Literal["JSONPatch"]]
    patch: NotRequired[str]
    status: NotRequired[AdmissionStatus]
    warnings: NotRequired[list[str]]


class AdmissionReviewResponse(TypedDict):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse


def require_mapping(value: object, where: str) -> Obj:
    """value as a JSON object, or BadRequest naming where it was expected."""
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def optional_mapping(value: object, where: str) -> Obj:
    """Like require_mapping, but a missing (None) value is an empty object."""
    return {} if value is None else require_mapping(value, where)


def mapping(value: object) -> Obj:
    """value if it is a JSON object, else an empty one: for optional fields of Kubernetes objects."""
    return value if isinstance(value, dict) else {}


def array(value: object) -> list[Any]:
    """value if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
