"""Hooks service of multicluster-service-account: Metacontroller's customize and sync, and the pod webhook."""

from .app import create_app

__all__ = ["create_app"]
