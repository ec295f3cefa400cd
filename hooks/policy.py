"""Who may import what: the policy written on a cluster credential Secret, and remote consent.

Pure logic. The policy lives in the credential Secret's annotations, so an admin of this cluster
controls it (with `kubemcsa bootstrap` flags or kubectl), and the hooks read it with the credential.
"""

from dataclasses import dataclass

from . import contract
from .wire import Obj

#: Every annotation a policy may write on a credential Secret.
ANNOTATIONS = (
    contract.ALLOWED_NAMESPACES_ANNOTATION,
    contract.REQUIRE_CONSENT_ANNOTATION,
    contract.IMPORTING_CLUSTER_ANNOTATION,
    contract.MAX_EXPIRATION_ANNOTATION,
    contract.ALLOWED_AUDIENCES_ANNOTATION,
    contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION,
)

#: Namespaces of a remote cluster that imports may not reach unless the policy opens them: they hold the
#: cluster's own identities (kube-system: its controllers' service accounts, cluster-admin in all but name).
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


class PolicyError(ValueError):
    """A policy annotation that cannot be read; the message names it."""


@dataclass(frozen=True)
class Policy:
    allowed_namespaces: frozenset[str] | None = None  # None: every namespace
    require_consent: bool = False
    importing_cluster: str | None = None
    max_expiration_seconds: int | None = None
    allowed_audiences: frozenset[str] | None = None  # None: any audience
    allowed_remote_namespaces: frozenset[str] = frozenset()  # system namespaces of the remote cluster opened

    def annotations(self) -> dict[str, str]:
        """This policy as credential Secret annotations (the inverse of parse)."""
        out: dict[str, str] = {}
        if self.allowed_namespaces is not None:
            out[contract.ALLOWED_NAMESPACES_ANNOTATION] = ",".join(sorted(self.allowed_namespaces))
        if self.require_consent:
            out[contract.REQUIRE_CONSENT_ANNOTATION] = "true"
        if self.importing_cluster:
            out[contract.IMPORTING_CLUSTER_ANNOTATION] = self.importing_cluster
        if self.max_expiration_seconds is not None:
            out[contract.MAX_EXPIRATION_ANNOTATION] = str(self.max_expiration_seconds)
        if self.allowed_audiences is not None:
            out[contract.ALLOWED_AUDIENCES_ANNOTATION] = ",".join(sorted(self.allowed_audiences))
        if self.allowed_remote_namespaces:
            out[contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION] = ",".join(sorted(self.allowed_remote_namespaces))
        return out

    def describe(self) -> str:
        """One line, for kubemcsa doctor."""
        parts = [
            "namespaces: "
            + (", ".join(sorted(self.allowed_namespaces)) if self.allowed_namespaces is not None else "all"),
            "remote consent: "
            + (f"required (as {self.importing_cluster})" if self.require_consent else "not required"),
            "max token lifetime: "
            + (f"{self.max_expiration_seconds}s" if self.max_expiration_seconds is not None else "the remote server's"),
            "audiences: "
            + (", ".join(sorted(self.allowed_audiences)) if self.allowed_audiences is not None else "any"),
            "remote system namespaces: " + (", ".join(sorted(self.allowed_remote_namespaces)) or "none") + " opened",
        ]
        return "; ".join(parts)


def _set(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def parse(annotations: Obj) -> Policy:
    """The policy in a credential Secret's annotations, or PolicyError naming the bad annotation."""

    def text(key: str) -> str | None:
        value = annotations.get(key)
        if value is not None and not isinstance(value, str):
            raise PolicyError(f"annotation {key} must be a string")
        return value

    namespaces = text(contract.ALLOWED_NAMESPACES_ANNOTATION)
    consent = (text(contract.REQUIRE_CONSENT_ANNOTATION) or "false").strip().lower()
    if consent not in ("true", "false"):
        raise PolicyError(f'annotation {contract.REQUIRE_CONSENT_ANNOTATION} must be "true" or "false"')
    cluster = text(contract.IMPORTING_CLUSTER_ANNOTATION)
    if consent == "true" and not cluster:
        raise PolicyError(
            f"annotation {contract.REQUIRE_CONSENT_ANNOTATION} needs {contract.IMPORTING_CLUSTER_ANNOTATION} "
            "(this cluster's name, as remote service accounts name it)"
        )
    raw_max = text(contract.MAX_EXPIRATION_ANNOTATION)
    try:
        max_expiration = int(raw_max) if raw_max is not None else None
    except ValueError:
        raise PolicyError(f"annotation {contract.MAX_EXPIRATION_ANNOTATION} must be a number of seconds") from None
    if max_expiration is not None and max_expiration < 600:
        raise PolicyError(f"annotation {contract.MAX_EXPIRATION_ANNOTATION} must be at least 600")
    audiences = text(contract.ALLOWED_AUDIENCES_ANNOTATION)
    remote = _set(text(contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION) or "")
    if unknown := sorted(remote - SYSTEM_NAMESPACES):
        raise PolicyError(
            f"annotation {contract.ALLOWED_REMOTE_NAMESPACES_ANNOTATION} may only name "
            f"{', '.join(sorted(SYSTEM_NAMESPACES))} (other namespaces need no opening), not {', '.join(unknown)}"
        )
    allowed = _set(namespaces) if namespaces is not None else None
    if allowed is not None and "*" in allowed:
        allowed = None
    return Policy(
        allowed_namespaces=allowed,
        require_consent=consent == "true",
        importing_cluster=cluster or None,
        max_expiration_seconds=max_expiration,
        allowed_audiences=_set(audiences) if audiences is not None else None,
        allowed_remote_namespaces=remote,
    )


def namespace_allowed(policy: Policy, namespace: str) -> bool:
    return policy.allowed_namespaces is None or namespace in policy.allowed_namespaces


def remote_namespace_allowed(policy: Policy, namespace: str) -> bool:
    return namespace not in SYSTEM_NAMESPACES or namespace in policy.allowed_remote_namespaces


def refused_audiences(policy: Policy, audiences: tuple[str, ...]) -> list[str]:
    if policy.allowed_audiences is None:
        return []
    return [a for a in audiences if a not in policy.allowed_audiences]


def clamp_expiration(policy: Policy, requested: int | None) -> int | None:
    """The lifetime to ask for: the request, capped by the policy (no request: the cap, if any)."""
    if policy.max_expiration_seconds is None:
        return requested
    return min(requested or policy.max_expiration_seconds, policy.max_expiration_seconds)


def consents(policy: Policy, remote_annotations: Obj, namespace: str) -> bool:
    """Whether a remote service account's annotations let this cluster's namespace import it."""
    value = remote_annotations.get(contract.IMPORTABLE_BY_ANNOTATION)
    if not isinstance(value, str) or not policy.importing_cluster:
        return False
    cluster = policy.importing_cluster
    return bool(_set(value) & {cluster, f"{cluster}/*", f"{cluster}/{namespace}"})
