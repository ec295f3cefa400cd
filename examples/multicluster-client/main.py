"""multicluster-client: list the pods of the remote namespace through the mounted service account import.

The seed's Job image, in Python. Run in a pod annotated with one import (or name it: `main.py IMPORT`);
outside a pod, point MCSA_SERVICE_ACCOUNT_IMPORTS_ROOT at a folder of mounted imports. Prints the API
server, the namespace and one pod name a line; errors go to stderr, with exit status 1.
"""

import sys

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from multicluster_service_account import (
    ConfigError,
    named_service_account_import_config_and_namespace,
    service_account_import_config_and_namespace,
    service_account_import_names,
)


def main(argv: list[str]) -> int:
    if len(argv) > 1 or argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        if argv:
            name = argv[0]
            configuration, namespace = named_service_account_import_config_and_namespace(name)
        else:
            configuration, namespace = service_account_import_config_and_namespace()  # exactly one, else says why
            [name] = service_account_import_names()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Service account import: {name}")
    print(f"API server URL: {configuration.host}")
    print(f"Namespace: {namespace}")
    print("Listing pods...")
    try:
        with client.ApiClient(configuration) as api:
            pods = client.CoreV1Api(api).list_namespaced_pod(namespace)
    except ApiException as err:
        print(f"error: cannot list pods in namespace {namespace}: {err.status} {err.reason}", file=sys.stderr)
        return 1
    for pod in pods.items:
        if pod.metadata is not None:
            print(pod.metadata.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
