"""Shared steps of the end-to-end tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from kubernetes import client as k8s

from hooks import contract, create_app
from hooks.settings import Settings, utc_now
from tests.testbed.bed import Bed
from tests.testbed.hooks_server import in_process_hooks
from tests.testbed.metacontroller import CompositeControllerDriver
from tests.testbed.scenario import imported_secret

GROUP, VERSION = contract.API_VERSION.split("/")


def get_import(bed: Bed, namespace: str, name: str) -> dict:
    return k8s.CustomObjectsApi(bed.api1).get_namespaced_custom_object(GROUP, VERSION, namespace, contract.PLURAL, name)


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
