"""generic-client: list pods through whatever configuration fits where it runs.

In a pod with one service account import mounted, through the import; on a laptop, through the
current kubeconfig context; in a pod without an import, as the pod's own service account.
`main.py NAME` picks an import or kubeconfig context by name (needed when several imports are mounted).
Prints the API server, the namespace and one pod name a line; errors go to stderr, with exit status 1.
"""

import sys

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from multicluster_service_account import ConfigError, config_and_namespace


def main(argv: list[str]) -> int:
    if len(argv) > 1 or argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        configuration, namespace = config_and_namespace(argv[0] if argv else None)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
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
