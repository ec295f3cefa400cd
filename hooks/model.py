"""The sync hook's vocabulary: what to ask a remote cluster for, with which credential, and how it fails."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .kubeconfig import ClusterEndpoint
from .policy import Policy
from .token import IssuedToken
from .wire import Obj


@dataclass(frozen=True)
class TokenSpec:
    """What to ask the remote cluster for."""

    cluster: str
    namespace: str
    name: str
    audiences: tuple[str, ...]
    expiration_seconds: int | None


@dataclass(frozen=True)
class Credential:
    """The importer's kubeconfig for a remote cluster, from its cluster credential Secret."""

    secret: str  # "namespace/name", for messages
    config: Obj
    endpoint: ClusterEndpoint
    policy: Policy = field(default_factory=Policy)
    #: The user name the credential authenticates as, as far as it shows (its token's `sub` claim, or its
    #: client certificate's common name); None when it does not show.
    identity: str | None = None
    #: When the credential's token was issued and expires (its `iat` and `exp` claims); None: it does not
    #: expire (a legacy service-account token, or a client certificate, whose expiry is not read here).
    issued_at: datetime | None = None
    expires_at: datetime | None = None


class RemoteError(Exception):
    """A TokenRequest that failed; reason is a Ready condition reason."""

    def __init__(self, reason: str, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code


class TokenIssuer(Protocol):
    def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
        """A new token for spec's service account, or RemoteError."""
        ...

    def service_account_annotations(self, credential: Credential, spec: TokenSpec) -> dict[str, str]:
        """The annotations of spec's remote service account, or RemoteError."""
        ...


class ImportFailure(Exception):
    """Why no token could be had. With revoke, the import is not allowed: its Secret goes too."""

    def __init__(self, reason: str, message: str, revoke: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.revoke = revoke
