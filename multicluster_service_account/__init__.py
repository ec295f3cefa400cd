"""Load the service account imports mounted in a pod as configurations of the official Kubernetes client.

    from kubernetes import client
    from multicluster_service_account import config_and_namespace

    configuration, namespace = config_and_namespace()
    with client.ApiClient(configuration) as api:
        pods = client.CoreV1Api(api).list_namespaced_pod(namespace)

A configuration made from a mounted import re-reads the mounted token file when it changes, so a
long-running client keeps working after the token is renewed.
"""

from .config import (
    all_named_configs_and_namespaces,
    all_service_account_import_configs_and_namespaces,
    config_and_namespace,
    config_and_namespace_for_context,
    named_service_account_import_config_and_namespace,
    service_account_import_config_and_namespace,
    service_account_import_names,
)
from .contract import MOUNT_ROOT, ROOT_ENV
from .errors import ConfigError, InvalidImportError, NotMountedError, SeveralImportsMountedError
from .kubeconfig import ConfigAndNamespace

__all__ = [
    "MOUNT_ROOT",
    "ROOT_ENV",
    "ConfigAndNamespace",
    "ConfigError",
    "InvalidImportError",
    "NotMountedError",
    "SeveralImportsMountedError",
    "all_named_configs_and_namespaces",
    "all_service_account_import_configs_and_namespaces",
    "config_and_namespace",
    "config_and_namespace_for_context",
    "named_service_account_import_config_and_namespace",
    "service_account_import_config_and_namespace",
    "service_account_import_names",
]
