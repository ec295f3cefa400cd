"""Kubernetes name rules, and the names this project derives from an import's name.

Every derived name is a pure function of the import name, so the webhook needs no lookup to know
which Secret an import keeps.
"""

import hashlib
import re
from typing import Final

DNS1123_LABEL_MAX: Final = 63
DNS1123_SUBDOMAIN_MAX: Final = 253
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL: Final = re.compile(rf"^{_LABEL}$")
_DNS1123_SUBDOMAIN: Final = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")

SECRET_SUFFIX: Final = "-token"
VOLUME_PREFIX: Final = "sai-"
#: Hashed volume names start differently, so that no plain name can equal one.
HASHED_VOLUME_PREFIX: Final = "saih-"
_HASH_LEN: Final = 10


def is_dns1123_label(value: str) -> bool:
    return len(value) <= DNS1123_LABEL_MAX and bool(_DNS1123_LABEL.match(value))


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= DNS1123_SUBDOMAIN_MAX and bool(_DNS1123_SUBDOMAIN.match(value))


def dns1123_subdomain_error(what: str, value: str) -> str | None:
    """Why value is not a DNS-1123 subdomain, in the API server's words, or None if it is one."""
    if is_dns1123_subdomain(value):
        return None
    return (
        f"invalid {what} {value!r}: must be a lowercase RFC 1123 subdomain of at most "
        f"{DNS1123_SUBDOMAIN_MAX} characters (lowercase alphanumerics, '-' and '.', starting and "
        "ending with an alphanumeric)"
    )


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:_HASH_LEN]


def _hashed(base: str, suffix: str, limit: int, key: str) -> str:
    """A truncated base, a hash of key, and suffix, in at most limit characters."""
    keep = limit - len(suffix) - _HASH_LEN - 1
    return f"{base[:keep].rstrip('-.')}-{_short_hash(key)}{suffix}"


def secret_name(import_name: str) -> str:
    """Name of the Secret that holds the kubeconfig of the import named import_name."""
    candidate = import_name + SECRET_SUFFIX
    if len(candidate) <= DNS1123_SUBDOMAIN_MAX:
        return candidate
    return _hashed(import_name, SECRET_SUFFIX, DNS1123_SUBDOMAIN_MAX, import_name)


def volume_name(import_name: str) -> str:
    """Pod volume name (a DNS-1123 label) for the import named import_name.

    Names that are not labels as they stand (dotted, or too long) get a hash of the whole name, and
    another prefix, so two imports never share a volume.
    """
    candidate = VOLUME_PREFIX + import_name
    if is_dns1123_label(candidate):
        return candidate
    base = HASHED_VOLUME_PREFIX + import_name.replace(".", "-")
    return _hashed(base, "", DNS1123_LABEL_MAX, import_name)
