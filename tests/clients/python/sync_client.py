"""A long-running client of the official Python client (`kubernetes`), for the client test.

Loads the kubeconfig once, then lists pods with the label selector mcsa-client=<label> every interval,
printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM/SIGINT.
"""

import argparse
import json
import signal
import sys
import time

import kubernetes


def reason(err: Exception) -> str:
    if isinstance(err, kubernetes.client.ApiException):
        try:
            message = json.loads(err.body)["message"]
        except Exception:  # not a Status object: the status line alone
            message = ""
        text = f"HTTP {err.status} {err.reason}: {message}"
    else:
        text = f"{type(err).__name__}: {err}"
    return " ".join(text.split())[:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--label", required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    kubernetes.config.load_kube_config(config_file=args.kubeconfig)
    api = kubernetes.client.CoreV1Api()
    while True:
        try:
            pods = api.list_namespaced_pod(args.namespace, label_selector=f"mcsa-client={args.label}")
            print(f"{int(time.time())} ok {len(pods.items)}", flush=True)
        except Exception as err:  # any failure is reported, never the end of the program
            print(f"{int(time.time())} fail {reason(err)}", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
