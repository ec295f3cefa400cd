"""The few contract strings this package needs.

Copied from hooks/contract.py, the source of truth (a unit test checks that they are equal), so that
the library needs only the Kubernetes client: importing `hooks` would import Flask and the rest of the
hooks service.
"""

from typing import Final

#: Where the webhook mounts each import, as MOUNT_ROOT/<import name>/.
MOUNT_ROOT: Final = "/var/run/secrets/admiralty.io/serviceaccountimports"
#: The mounted kubeconfig's file name (the imported Secret's data key).
CONFIG_KEY: Final = "config"
#: The pod annotation that asks for imports.
IMPORT_NAME_KEY: Final = "multicluster.admiralty.io/service-account-import.name"
#: The label a pod's namespace needs for the webhook to mount imports.
NAMESPACE_OPT_IN_LABEL: Final = "multicluster-service-account"
NAMESPACE_OPT_IN_VALUE: Final = "enabled"

#: This package's own setting: another folder to find mounted imports in (for tests and local use).
ROOT_ENV: Final = "MCSA_SERVICE_ACCOUNT_IMPORTS_ROOT"
