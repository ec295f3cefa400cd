"""The public functions: configurations from mounted imports, kubeconfig contexts, or the in-cluster service account.

The Python counterparts of the seed's Go package `pkg/config`. Each returns fresh
`kubernetes.client.Configuration` objects (never the client's default), with the namespace to use.
"""

from . import kubeconfig as kc
from . import mounts
from .errors import ConfigError
from .kubeconfig import ConfigAndNamespace
from .mounts import PathLike


def service_account_import_names(*, root: PathLike | None = None) -> list[str]:
    """The names of the mounted service account imports, sorted; empty if none is mounted."""
    return mounts.import_names(mounts.mount_root(root))


def service_account_import_config_and_namespace(*, root: PathLike | None = None) -> ConfigAndNamespace:
    """The configuration and namespace of the one mounted import.

    Raises NotMountedError if none is mounted, SeveralImportsMountedError if several are."""
    directory = mounts.mount_root(root)
    return mounts.load_import(mounts.single_name(directory), directory)


def named_service_account_import_config_and_namespace(name: str, *, root: PathLike | None = None) -> ConfigAndNamespace:
    """The configuration and namespace of the mounted import called name. Raises NotMountedError if it is not."""
    return mounts.load_import(name, mounts.mount_root(root))


def all_service_account_import_configs_and_namespaces(*, root: PathLike | None = None) -> dict[str, ConfigAndNamespace]:
    """Every mounted import, by name; empty if none is mounted. An unusable import raises InvalidImportError."""
    directory = mounts.mount_root(root)
    return {name: mounts.load_import(name, directory) for name in mounts.import_names(directory)}


def config_and_namespace_for_context(
    context: str | None = None, *, kubeconfig: PathLike | None = None
) -> ConfigAndNamespace:
    """The configuration and namespace of a kubeconfig context (None: the current context).

    kubeconfig: the file(s) to read, colon-separated; default $KUBECONFIG, else ~/.kube/config."""
    return kc.load_context(kc.kubeconfig_paths(kubeconfig), context)


def config_and_namespace(
    name: str | None = None, *, root: PathLike | None = None, kubeconfig: PathLike | None = None
) -> ConfigAndNamespace:
    """A configuration for a program that runs anywhere.

    With name: the mounted import of that name, else the kubeconfig context of that name.
    Without: the one mounted import (several: SeveralImportsMountedError, pick one), else the current
    kubeconfig context if a kubeconfig exists, else the pod's own service account (in-cluster).
    Raises ConfigError saying what was looked for, and where, if nothing fits."""
    directory = mounts.mount_root(root)
    names = mounts.import_names(directory)
    paths = kc.kubeconfig_paths(kubeconfig)
    if name is not None:
        if name in names:
            return mounts.load_import(name, directory)
        contexts = kc.context_names(paths)
        if name in contexts:
            return kc.load_context(paths, name)
        raise ConfigError(
            f"no service account import or kubeconfig context is named {name!r}: "
            f"imports under {directory}: {_or_none(names)}; contexts in {paths}: {_or_none(contexts)}"
        )
    if names:
        return mounts.load_import(mounts.single_name(directory), directory)
    if kc.kubeconfig_exists(paths):
        return kc.load_context(paths, None)
    if kc.in_cluster_possible():
        return kc.load_in_cluster()
    raise ConfigError(
        f"no configuration found: no service account import is mounted under {directory}, no kubeconfig file "
        f"exists at {paths}, and this is not a pod (KUBERNETES_SERVICE_HOST is not set); "
        "mount an import, set KUBECONFIG, or run in a pod"
    )


def all_named_configs_and_namespaces(
    *, root: PathLike | None = None, kubeconfig: PathLike | None = None
) -> dict[str, ConfigAndNamespace]:
    """Every mounted import and every kubeconfig context, by name; a mounted import wins over a context of
    the same name. Empty if there are neither. (The Kubernetes client runs a context's exec plugin as it loads it.)"""
    found = all_service_account_import_configs_and_namespaces(root=root)
    paths = kc.kubeconfig_paths(kubeconfig)
    for context in kc.context_names(paths):
        if context not in found:
            found[context] = kc.load_context(paths, context)
    return found


def _or_none(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) or "none"
