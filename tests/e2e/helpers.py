"""Shared steps of the end-to-end tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from kubernetes import client as k8s

from hooks import contract, create_app
from hooks.settings import Settings, utc_now
from tests.testbed.bed import Bed
from tests.testbed.hooks_server import in_process_hooks
from tests.testbed.metacontroller import CompositeControllerDriver, SyncResult
from tests.testbed.scenario import enable_namespace, imported_secret, pod_lister, service_account_import

GROUP, VERSION = contract.API_VERSION.split("/")


def get_import(bed: Bed, namespace: str, name: str) -> dict:
    return k8s.CustomObjectsApi(bed.api1).get_namespaced_custom_object(GROUP, VERSION, namespace, contract.PLURAL, name)


def synced_import(bed: Bed, namespace: str, name: str, **spec: object) -> SyncResult | None:
    """Import `name` into namespace of cluster1 (enabled) from service account pod-lister of the same
    namespace in cluster2 (made here), synced once."""
    pod_lister(bed.api2, namespace)
    enable_namespace(bed.api1, namespace)
    service_account_import(bed.api1, namespace, name, "cluster2", namespace, "pod-lister", **spec)
    return bed.driver().sync_parent(namespace, name)


def ready(bed: Bed, namespace: str, name: str) -> dict:
    conditions = (get_import(bed, namespace, name).get("status") or {}).get("conditions", [])
    return next(c for c in conditions if c["type"] == "Ready")


def secret_data(bed: Bed, namespace: str, name: str) -> dict[str, str]:
    secret = imported_secret(bed.api1, namespace, name)
    assert secret is not None, f"the Secret of import {namespace}/{name} is gone"
    bed.remember(secret)
    return dict(secret.data)


@contextmanager
def hooks_later(bed: Bed, seconds: float) -> Iterator[CompositeControllerDriver]:
    """A driver whose hooks see the clock `seconds` ahead: the same app and remote calls, later."""
    app = create_app(Settings(clock=lambda: utc_now() + timedelta(seconds=seconds)))
    with in_process_hooks(app, bed.files) as url:
        yield bed.driver(url)
