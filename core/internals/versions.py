"""Check that an installed library is the exact version an internals module was written for."""

from __future__ import annotations

from importlib import metadata

from django.core.exceptions import ImproperlyConfigured


def installed_version(distribution: str) -> str:
    """The version of `distribution` installed in this environment."""
    return metadata.version(distribution)


def require_version(distribution: str, expected: str) -> None:
    """Raise `ImproperlyConfigured` unless `distribution` is installed at exactly `expected`."""
    found = installed_version(distribution)
    if found != expected:
        raise ImproperlyConfigured(
            f"core.internals relies on private internals of {distribution}=={expected} "
            f"(pinned in requirements/base.txt), but {distribution}=={found} is installed. "
            f"Review core/internals/ against the new version, then update its pin."
        )
