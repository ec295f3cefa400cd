"""kubemcsa's one door to the Kubernetes client: kubeconfig contexts, API clients and API errors."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from kubernetes.config.kube_config import KubeConfigLoader

from hooks import names
from hooks.kubeconfig import ClusterEndpoint
from hooks.wire import Obj

from . import answers, kubeconfigs, transport
from . import kubeconfig_check as check
from .kubeconfig_check import KubeconfigProblem, quoted

#: API error text quoted in messages is capped.
MAX_ERROR_TEXT = 300
#: (connect, read) timeout in seconds of each API call that does not set its own.
REQUEST_TIMEOUT: tuple[float, float] = (10.0, 30.0)
#: A call is tried again on connection errors only: an answer that was slow, or cut, would be as slow again, TLS
#: errors do not go away, and a Retry-After could hold kubemcsa for as long as the server says (a 429 or 503 is said).
RETRIES = urllib3.Retry(total=3, read=0, other=0, redirect=0, raise_on_redirect=False, respect_retry_after_header=False)
#: The hint of an answer that is not a Kubernetes API server's.
NOT_AN_API = "check that the kubeconfig's server URL is the cluster's API server"
#: Errors of reading an API answer that is not what an API server answers (not JSON, missing fields).
MALFORMED = answers.MALFORMED


class CommandError(Exception):
    """An expected failure: kubemcsa prints it on one line, with its hint, and exits 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class RemoteProblem(Exception):
    """A call without a usable answer, in words that name the server: cause, and what to do (hint)."""

    def __init__(self, cause: str, hint: str) -> None:
        super().__init__(cause)
        self.cause = cause
        self.hint = hint


class Unreachable(RemoteProblem):
    """A call that got no answer (transport.describe)."""


class BadAnswer(RemoteProblem):
    """An answer that is not what a Kubernetes API server answers (answers.problem)."""


def one_line(text: str) -> str:
    """text with its line breaks and other control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def api_error_text(err: ApiException) -> str:
    """The status and the API server's message (or the HTTP reason), on one line, capped."""
    try:
        message = json.loads(err.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    if not isinstance(message, str) or not message.strip():
        message = err.reason if isinstance(err.reason, str) else ""
    status = err.status if err.status else "no status:"
    return one_line(" ".join(f"{status} {message}".split()))[:MAX_ERROR_TEXT]


def display_server(server: str) -> str:
    """A server URL as messages name it: without user and password, if it has them."""
    try:
        url = urlsplit(server)
        netloc = url.netloc.rpartition("@")[2]
        return one_line(url._replace(netloc=netloc).geturl())[:MAX_ERROR_TEXT]
    except ValueError:
        return "the API server"


class ApiClient(k8s.ApiClient):
    """An API client whose calls time out (REQUEST_TIMEOUT unless the call sets one) and read their answer whole;
    they raise Unreachable when they get no answer, BadAnswer when it is not a Kubernetes answer, ApiException when
    it is an error. Both name the server."""

    def _server(self) -> str:
        return display_server(str(self.configuration.host))

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        timeout = _request_timeout or REQUEST_TIMEOUT
        try:
            response = super().call_api(method, url, header_params, body, post_params, _request_timeout=timeout)
            response.read()
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as err:
            read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
            cause, hint = transport.describe(err, self._server(), read_timeout)
            raise Unreachable(cause, hint) from None
        return response

    def response_deserialize(self, response_data: Any, response_types_map: Any = None) -> Any:
        kind = (response_types_map or {}).get(str(response_data.status))
        what = f"a Kubernetes {answers.kind_name(kind)}" if kind and kind != "object" else "JSON"
        try:
            answer = super().response_deserialize(response_data, response_types_map)
        except ApiException as err:
            if err.status:
                raise
            content = one_line(str(response_data.headers.get("content-type")))[:80]
            raise BadAnswer(f"the answer of {self._server()} is not JSON but {content}", NOT_AN_API) from None
        except MALFORMED as err:  # not JSON, or not of the kind asked for
            raise BadAnswer(
                f"the answer of {self._server()} is not {what} ({type(err).__name__})", NOT_AN_API
            ) from None
        if kind is None:
            raise BadAnswer(f"{self._server()} answered {response_data.status}, which kubemcsa cannot read", NOT_AN_API)
        if problem := answers.problem(answer.data, kind):
            raise BadAnswer(f"the answer of {self._server()} {problem}", NOT_AN_API)
        return answer


def _client(configuration: k8s.Configuration) -> ApiClient:
    configuration.retries = RETRIES
    return ApiClient(configuration)


@dataclass(frozen=True)
class Cluster:
    """A cluster as the installer's kubeconfig names it, with an API client for it."""

    name: str
    context: str
    api: k8s.ApiClient
    endpoint: ClusterEndpoint


def _flag(role: str, what: str) -> str:
    """The flag of a cluster's what: --source-context, or --context for the commands of one cluster."""
    return f"--{role}-{what}" if role else f"--{what}"


def connect(kubeconfig: Path | None, context: str | None, name: str | None, role: str) -> Cluster:
    """The cluster of context (default: the current one) in kubeconfig (default: $KUBECONFIG, else
    ~/.kube/config). Its name is name, or else the kubeconfig's name for the context's cluster.

    role ("source" or "target") words the hints after the flags of that cluster.
    """
    paths, where = kubeconfigs.locate(kubeconfig)
    kubeconfig_hint = f"fix it, or use {_flag(role, 'kubeconfig')}" + (" or --kubeconfig" if role else "")
    documents = []
    for path in paths:
        full = os.path.expanduser(path)
        if len(paths) > 1 and not os.path.exists(full):
            continue  # kubectl skips the files of $KUBECONFIG that do not exist
        place = where if len(paths) == 1 else f"kubeconfig {path} (of $KUBECONFIG)"
        try:
            config = kubeconfigs.read(full)
            documents.append((full, config, check.sections(config)))
        except KubeconfigProblem as problem:
            raise CommandError(f"cannot read {place}: {problem.message}", kubeconfig_hint) from None
    if not documents:
        raise CommandError(f"cannot read {where}: none of its files exists", kubeconfig_hint)
    node = kubeconfigs.merged(documents)
    try:
        selected = check.select(node.value, {s: [n.value for n in node.value[s]] for s in check.SECTIONS}, context)
        configuration = kubeconfigs.load(node, selected)
    except check.MissingContext as missing:
        what = f"context {missing.name}" if missing.name else "the current context (it names none)"
        raise CommandError(
            f"cannot find {what} in {where} (contexts: {missing.known})", f"use {_flag(role, 'context')}"
        ) from None
    except KubeconfigProblem as problem:
        hint = problem.hint or (f"use {_flag(role, 'context')}" if problem.flag == "context" else kubeconfig_hint)
        raise CommandError(f"cannot use {where}: {problem.message}", hint) from None
    cluster_name = name or selected.cluster
    if not names.is_dns1123_subdomain(cluster_name) or len(cluster_name) > names.DNS1123_LABEL_MAX:
        raise CommandError(
            f"invalid cluster name {quoted(cluster_name)}, must be a DNS-1123 subdomain of at most "
            f"{names.DNS1123_LABEL_MAX} characters",
            f"use {_flag(role, 'name')}" if name else f"rename it in the kubeconfig or use {_flag(role, 'name')}",
        )
    ca = Path(configuration.ssl_ca_cert).read_bytes() if configuration.ssl_ca_cert else b""
    endpoint = ClusterEndpoint(server=str(configuration.host).rstrip("/"), ca_pem=ca)
    return Cluster(cluster_name, selected.context, _client(configuration), endpoint)


def client_for(config: Obj) -> k8s.ApiClient:
    """An API client for a parsed kubeconfig's current context, without retries.

    Raises ValueError (with the loader's error type only, never the kubeconfig's content) if the
    kubeconfig cannot be loaded.
    """
    configuration = k8s.Configuration()
    try:
        loader = KubeConfigLoader(config_dict=config)
        loader.load_and_set(configuration)
    except (ConfigException, ValueError, TypeError, KeyError) as err:
        raise ValueError(type(err).__name__) from None
    configuration.retries = 0
    return ApiClient(configuration)
