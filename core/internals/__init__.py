"""One door per library for the private internals this project relies on.

Each module here (`django`, `channels`, `channels_redis`) is the only place that touches its
library's private attributes, and it names the version it was written against: `check_versions()`
(called from `CoreConfig.ready`) refuses to start on any other version, so an upgrade fails at
startup with a clear message instead of misbehaving at run time. Core is the bottom layer: these
modules import only the libraries."""


def check_versions() -> None:
    """Raise `ImproperlyConfigured` unless each library is at the version its module pins."""
    from core.internals import channels, channels_redis, django

    for library in (django, channels, channels_redis):
        library.check_version()
