"""What an API server's answer lacks that every Kubernetes API server gives, and that kubemcsa reads: the name and
creation time of stored objects, base64 Secret data, the token of a TokenRequest. Pure: it reads the Kubernetes
client's models, never quotes them (a Secret's data may be in them)."""

import base64
import binascii
from typing import Any, Final

#: Errors of reading an answer that is not what an API server answers (not JSON, fields missing or of other types).
MALFORMED: Final = (ValueError, TypeError, AttributeError, LookupError)
#: The kinds kubemcsa reads that are stored objects: each has a name and a creation time.
STORED: Final = frozenset({
    "V1Namespace", "V1Secret", "V1ServiceAccount", "V1ClusterRole", "V1ClusterRoleBinding", "V1RoleBinding",
    "V1ValidatingAdmissionPolicy", "V1ValidatingAdmissionPolicyBinding",
})  # fmt: skip


def kind_name(kind: str) -> str:
    """A client model's name as Kubernetes names the kind: V1SecretList is SecretList."""
    for prefix in ("AuthenticationV1", "V1"):
        if kind.startswith(prefix):
            return kind.removeprefix(prefix)
    return kind


def _base64(value: Any) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    return True


def _stored_problem(obj: Any) -> str | None:
    meta = getattr(obj, "metadata", None)
    if meta is None or not getattr(meta, "name", None) or getattr(meta, "creation_timestamp", None) is None:
        return "has no name or creation time"
    data = getattr(obj, "data", None)
    if type(obj).__name__ == "V1Secret" and data and not all(_base64(v) for v in data.values()):
        return "holds data that is not base64"
    return None


def problem(data: Any, kind: str) -> str | None:
    """What the answer data, of the client model kind, lacks (e.g. "has no name or creation time"), if anything."""
    if kind == "object":
        return None
    if data is None:
        return "is empty"
    if kind.endswith("List") and kind.removesuffix("List") in STORED:
        for item in data.items:
            if what := _stored_problem(item):
                return f"lists an object that {what}"
        return None
    if kind in STORED:
        return _stored_problem(data)
    if kind == "AuthenticationV1TokenRequest":
        status = data.status
        if status is None or not status.token or status.expiration_timestamp is None:
            return "holds no token and expiry"
    return None
