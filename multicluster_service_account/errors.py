"""The errors of this package. Each message says what was wrong, with which name and path, and how to fix it."""

from kubernetes.config import ConfigException


class ConfigError(ConfigException):
    """No usable configuration. A ConfigException of the Kubernetes client, so one except clause catches both."""


class NotMountedError(ConfigError):
    """No service account import is mounted, or none of the name asked for."""


class SeveralImportsMountedError(ConfigError):
    """Several service account imports are mounted and none was named: the caller must pick one."""


class InvalidImportError(ConfigError):
    """A mounted service account import whose files cannot be used."""
