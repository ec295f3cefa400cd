"""A long-running client of the official Python client's asyncio flavour (`kubernetes.aio`), for the client
test.

Loads the kubeconfig once, then lists pods with the label selector mcsa-client=<label> every interval,
printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM/SIGINT.
This client runs an exec credential plugin again only in its documented background task `refresh_token`
(every 60 s, when the plugin's token is within 5 minutes of its expiry), which runs here beside the calls.
"""

import argparse
import asyncio
import json
import signal
import time

import kubernetes.aio.client
import kubernetes.aio.config


def reason(err: Exception) -> str:
    if isinstance(err, kubernetes.aio.client.ApiException):
        try:
            message = json.loads(err.body)["message"]
        except Exception:  # not a Status object: the status line alone
            message = ""
        text = f"HTTP {err.status} {err.reason}: {message}"
    else:
        text = f"{type(err).__name__}: {err}"
    return " ".join(text.split())[:200]


async def run(args: argparse.Namespace) -> None:
    cfg = kubernetes.aio.client.Configuration()
    loader = await kubernetes.aio.config.load_kube_config(config_file=args.kubeconfig, client_configuration=cfg)
    # The documented background task that runs an exec plugin again; it returns at once for a user without exec.
    refresher = asyncio.create_task(kubernetes.aio.config.refresh_token(loader, cfg))
    try:
        async with kubernetes.aio.client.ApiClient(cfg) as api_client:
            api = kubernetes.aio.client.CoreV1Api(api_client)
            while True:
                try:
                    pods = await api.list_namespaced_pod(args.namespace, label_selector=f"mcsa-client={args.label}")
                    print(f"{int(time.time())} ok {len(pods.items)}", flush=True)
                except Exception as err:  # any failure is reported, never the end of the program
                    print(f"{int(time.time())} fail {reason(err)}", flush=True)
                await asyncio.sleep(args.interval)
    finally:
        refresher.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--label", required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()

    async def guarded() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await run(args)
        except asyncio.CancelledError:
            pass

    asyncio.run(guarded())


if __name__ == "__main__":
    main()
