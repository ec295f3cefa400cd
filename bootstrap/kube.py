"""kubemcsa's one door to the Kubernetes client: kubeconfig contexts, API clients and API errors."""

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from kubernetes.config.kube_config import KubeConfigLoader

from hooks import names
from hooks.kubeconfig import ClusterEndpoint
from hooks.wire import Obj

#: API error text quoted in messages is capped.
MAX_ERROR_TEXT = 300


class CommandError(Exception):
    """An expected failure: kubemcsa prints it on one line, with its hint, and exits 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def api_error_text(err: Exception) -> str:
    """The API server's message (or the exception type for transport errors), capped."""
    if isinstance(err, ApiException):
        try:
            message = json.loads(err.body or "{}").get("message") or err.reason
        except (ValueError, AttributeError):
            message = err.reason
        return f"{err.status} {message}"[:MAX_ERROR_TEXT]
    return type(err).__name__


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
    """The cluster of context (default: the current one) in kubeconfig (default: $KUBECONFIG or
    ~/.kube/config). Its name is name, or else the kubeconfig's name for the context's cluster.

    role ("source" or "target") words the hints after the flags of that cluster.
    """
    where = f"kubeconfig {kubeconfig}" if kubeconfig else "the kubeconfig ($KUBECONFIG or ~/.kube/config)"
    config_file = str(kubeconfig) if kubeconfig else None
    kubeconfig_hint = f"fix it, or use {_flag(role, 'kubeconfig')}" + (" or --kubeconfig" if role else "")
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file)
        known_names = sorted(str(c["name"]) for c in contexts or [])
        wanted = context or (current or {}).get("name")
        found = next((c for c in contexts or [] if c.get("name") == wanted), None)
    except (ConfigException, OSError) as err:
        raise CommandError(f"cannot read {where}: {err}", kubeconfig_hint) from None
    except yaml.YAMLError as err:  # its message quotes the file: only where the problem is
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise CommandError(f"cannot read {where}: it is not valid YAML{line}", kubeconfig_hint) from None
    except (TypeError, AttributeError, KeyError, IndexError):
        raise CommandError(
            f"cannot read {where}: it is not a kubeconfig (a mapping whose contexts list has a name and a "
            "context each)",
            kubeconfig_hint,
        ) from None
    if found is None:
        known = ", ".join(known_names) or "none"
        raise CommandError(
            f'cannot find context "{wanted}" in {where} (contexts: {known})', f"use {_flag(role, 'context')}"
        )
    cluster_name = name or found.get("context", {}).get("cluster") or ""
    if not names.is_dns1123_subdomain(cluster_name) or len(cluster_name) > names.DNS1123_LABEL_MAX:
        raise CommandError(
            f'invalid cluster name "{cluster_name}", must be a DNS-1123 subdomain of at most '
            f"{names.DNS1123_LABEL_MAX} characters",
            f"use {_flag(role, 'name')}" if name else f"rename it in the kubeconfig or use {_flag(role, 'name')}",
        )
    configuration = k8s.Configuration()
    try:
        k8s_config.load_kube_config(
            config_file=config_file, context=wanted, client_configuration=configuration, persist_config=False
        )
    except (ConfigException, OSError, ValueError) as err:
        raise CommandError(f'cannot load context "{wanted}" from {where}: {err}') from None
    except (TypeError, AttributeError, KeyError, IndexError):
        raise CommandError(
            f'cannot load context "{wanted}" from {where}: its cluster or user is not a kubeconfig mapping',
            kubeconfig_hint,
        ) from None
    ca = Path(configuration.ssl_ca_cert).read_bytes() if configuration.ssl_ca_cert else b""
    endpoint = ClusterEndpoint(server=str(configuration.host).rstrip("/"), ca_pem=ca)
    return Cluster(cluster_name, wanted, k8s.ApiClient(configuration), endpoint)


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
    return k8s.ApiClient(configuration)
