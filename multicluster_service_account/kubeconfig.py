"""Configurations from kubeconfig files and from the in-cluster service account, each a fresh Configuration.

The Kubernetes client's loaders do the work (`load_kube_config`, `load_incluster_config`); this module
only picks the files, reads the namespace as client-go does, and says clearly what is missing.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from kubernetes import client
from kubernetes import config as k8s_config
from kubernetes.config import incluster_config, kube_config

from .errors import ConfigError

DEFAULT_KUBECONFIG = "~/.kube/config"
DEFAULT_NAMESPACE = "default"


class ConfigAndNamespace(NamedTuple):
    """A client configuration and the namespace that goes with it. Unpacks as `config, namespace = ...`."""

    #: A fresh Configuration (never the client's default): `kubernetes.client.ApiClient(configuration)`.
    configuration: client.Configuration
    #: The namespace of the kubeconfig context or import, else of the pod, else "default".
    namespace: str


def kubeconfig_paths(kubeconfig: str | os.PathLike[str] | None = None) -> str:
    """The kubeconfig files to read, colon-separated: kubeconfig, else $KUBECONFIG, else ~/.kube/config.

    $KUBECONFIG is read at each call (the client reads it once, at import)."""
    if kubeconfig is not None and str(kubeconfig):
        return os.fspath(kubeconfig)
    return os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG


def _existing(paths: str) -> list[str]:
    return [p for p in paths.split(os.pathsep) if p and os.path.exists(os.path.expanduser(p))]


def kubeconfig_exists(paths: str) -> bool:
    return bool(_existing(paths))


def _merged(paths: str) -> dict[str, Any]:
    """The kubeconfig files merged as the client merges them (first definition of a name wins)."""
    try:
        merged = kube_config.KubeConfigMerger(paths).config  # type: ignore[no-untyped-call]
    except yaml.YAMLError as err:
        raise ConfigError(f"cannot read kubeconfig {paths}: {yaml_problem(err)}") from None
    except (k8s_config.ConfigException, OSError) as err:
        raise ConfigError(f"cannot read kubeconfig {paths}: {err}") from None
    if merged is None:
        raise ConfigError(f"no kubeconfig file at {paths}: set KUBECONFIG or pass kubeconfig=")
    value = merged.value if isinstance(merged, kube_config.ConfigNode) else merged
    return dict(value)


def _contexts(merged: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in merged.get("contexts") or []:
        entry = item.value if isinstance(item, kube_config.ConfigNode) else item
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            context = entry.get("context")
            yield entry["name"], dict(context) if isinstance(context, dict) else {}


def context_names(paths: str) -> list[str]:
    """The names of the contexts of the kubeconfig files, in order; none if no file exists."""
    if not kubeconfig_exists(paths):
        return []
    return [name for name, _ in _contexts(_merged(paths))]


def load_context(paths: str, context: str | None) -> ConfigAndNamespace:
    """The configuration and namespace of a kubeconfig context (None: the current context)."""
    if not kubeconfig_exists(paths):
        raise ConfigError(f"no kubeconfig file at {paths}: set KUBECONFIG or pass kubeconfig=")
    merged = _merged(paths)
    contexts = dict(_contexts(merged))
    name = context if context is not None else merged.get("current-context")
    if not name:
        raise ConfigError(f"kubeconfig {paths} has no current-context: name a context ({_listed(contexts)})")
    if name not in contexts:
        raise ConfigError(f"kubeconfig {paths} has no context {name!r}; its contexts: {_listed(contexts)}")
    configuration = client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=paths, context=name, client_configuration=configuration, persist_config=False
        )
    except yaml.YAMLError as err:
        raise ConfigError(f"cannot load context {name!r} of kubeconfig {paths}: {yaml_problem(err)}") from None
    except (k8s_config.ConfigException, OSError, ValueError) as err:
        raise ConfigError(f"cannot load context {name!r} of kubeconfig {paths}: {err}") from None
    namespace = contexts[name].get("namespace")
    return ConfigAndNamespace(configuration, namespace_or_default(namespace))


def namespace_or_default(namespace: object) -> str:
    return namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE


def yaml_problem(err: yaml.YAMLError) -> str:
    """What is wrong with a YAML file, and where, without quoting it (a kubeconfig may hold a token)."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None)
    return f"not valid YAML{where}" + (f" ({problem})" if problem else "")


def _listed(names: dict[str, Any] | list[str]) -> str:
    return ", ".join(repr(n) for n in names) or "none"


def in_cluster_possible() -> bool:
    """Whether this process looks like it runs in a pod (the variables the kubelet sets for every container)."""
    env = os.environ
    return bool(env.get(incluster_config.SERVICE_HOST_ENV_NAME) and env.get(incluster_config.SERVICE_PORT_ENV_NAME))


def load_in_cluster() -> ConfigAndNamespace:
    """The pod's own service account; the namespace is $POD_NAMESPACE, else the pod's, else "default"."""
    configuration = client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError) as err:
        raise ConfigError(
            f"cannot load the in-cluster configuration (token {incluster_config.SERVICE_TOKEN_FILENAME}): {err}"
        ) from None
    return ConfigAndNamespace(configuration, _pod_namespace())


def _pod_namespace() -> str:
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    path = Path(incluster_config.SERVICE_TOKEN_FILENAME).parent / "namespace"
    try:
        return path.read_text(encoding="utf-8").strip() or DEFAULT_NAMESPACE
    except (OSError, UnicodeDecodeError):
        return DEFAULT_NAMESPACE
