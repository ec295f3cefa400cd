"""The one module that imports the Kubernetes client: TokenRequests to remote clusters."""

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from kubernetes.config.kube_config import KubeConfigLoader

from .model import Credential, RemoteError, TokenSpec
from .settings import Settings
from .token import IssuedToken, issued
from .wire import Obj

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Logged and reported API error text is capped, so that no unexpected payload ends up in a status.
MAX_ERROR_TEXT = 300

REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "RemoteServiceAccountNotFound"}
HINTS = {
    401: "the cluster credential was rejected; rotate it with `kubemcsa rotate`",
    403: "the importer may not create tokens for this service account; check `kubemcsa bootstrap --namespace`",
    404: "create the service account in the remote cluster, or fix spec.namespace and spec.name",
}


def _api_message(err: ApiException) -> str:
    try:
        message = str(json.loads(err.body or "{}").get("message") or err.reason)
    except (ValueError, AttributeError):
        message = str(err.reason)
    return message[:MAX_ERROR_TEXT]


def client_for(config: Obj) -> k8s.ApiClient:
    """An API client for a parsed kubeconfig's current context, without retries.

    Raises ValueError (with the loader's error type only, never the kubeconfig's content) if the
    kubeconfig cannot be loaded.
    """
    configuration = k8s.Configuration()
    try:
        loader = KubeConfigLoader(config_dict=config)  # type: ignore[no-untyped-call]
        loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, ValueError, TypeError, KeyError) as err:
        raise ValueError(type(err).__name__) from None
    configuration.retries = 0
    return k8s.ApiClient(configuration)


class KubernetesTokenIssuer:
    """Requests tokens with the TokenRequest API, authenticated by the cluster credential."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.remote_timeout_seconds
        self._clock = settings.clock

    def _api(self, credential: Credential) -> k8s.ApiClient:
        try:
            return client_for(credential.config)
        except ValueError as err:
            raise RemoteError(
                "InvalidClusterCredential",
                f'the cluster credential Secret "{credential.secret}" is unusable: {err}; '
                "re-run `kubemcsa bootstrap` for it",
            ) from None

    def _call(self, credential: Credential, verb: str, where: str, call: Callable[[k8s.ApiClient], T]) -> T:
        """call(api) against the remote cluster, its failures as RemoteErrors: cannot <verb> <where>: ..."""
        with self._api(credential) as api:
            try:
                return call(api)
            except ApiException as err:
                status = int(err.status or 0)
                reason = REASONS.get(status, "RemoteError")
                hint = HINTS.get(status, "see the remote API server's message")
                raise RemoteError(
                    reason, f"cannot {verb} {where}: {status} {_api_message(err)}; {hint}", status
                ) from None
            except (urllib3.exceptions.HTTPError, OSError) as err:
                cause = type(err).__name__
                if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
                    cause = type(err.reason).__name__
                raise RemoteError(
                    "RemoteUnreachable",
                    f"cannot {verb} {where}: {credential.endpoint.server} is unreachable ({cause}); "
                    "check that the cluster is up and that the credential's server URL and CA are right",
                ) from None

    def request_token(self, credential: Credential, spec: TokenSpec) -> IssuedToken:
        where = _where(spec)
        # No audiences: the remote API server's own (its service-account issuer's).
        body = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=list(spec.audiences), expiration_seconds=spec.expiration_seconds)
        )
        requested_at = self._clock()
        response = self._call(
            credential, "create token for", where,
            lambda api: k8s.CoreV1Api(api).create_namespaced_service_account_token(
                spec.name, spec.namespace, body, _request_timeout=self._timeout
            ),
        )  # fmt: skip
        result = response.status
        if result is None or not result.token or not isinstance(result.expiration_timestamp, datetime):
            raise RemoteError("RemoteError", f"cannot create token for {where}: the response has no token")
        return issued(result.token, result.expiration_timestamp.astimezone(UTC), requested_at)

    def service_account_annotations(self, credential: Credential, spec: TokenSpec) -> dict[str, str]:
        account = self._call(
            credential, "get", _where(spec),
            lambda api: k8s.CoreV1Api(api).read_namespaced_service_account(
                spec.name, spec.namespace, _request_timeout=self._timeout
            ),
        )  # fmt: skip
        return dict(account.metadata.annotations or {}) if account.metadata else {}


def _where(spec: TokenSpec) -> str:
    return f'service account "{spec.name}" in namespace "{spec.namespace}" of cluster "{spec.cluster}"'
