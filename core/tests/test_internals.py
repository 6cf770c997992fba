"""Library internals behind one door: each module pins the version it was written for, the pins
are requirements/base.txt's, and any other installed version stops the process at startup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, ValidationError

from core.internals import channels, channels_redis, check_versions, django, versions

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements" / "base.txt"
LIBRARIES = {"Django": django, "channels": channels, "channels-redis": channels_redis}


def pinned_in_requirements() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", REQUIREMENTS.read_text(), flags=re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


@pytest.mark.parametrize("distribution", LIBRARIES)
def test_each_internals_module_pins_the_version_requirements_install(distribution: str) -> None:
    assert pinned_in_requirements()[distribution.lower()] == LIBRARIES[distribution].PINNED
    assert versions.installed_version(distribution) == LIBRARIES[distribution].PINNED


def test_the_installed_versions_pass_the_startup_check() -> None:
    check_versions()


@pytest.mark.parametrize("distribution", LIBRARIES)
def test_another_installed_version_stops_startup_naming_both_versions(
    distribution: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = versions.installed_version
    monkeypatch.setattr(versions, "installed_version", lambda name: "99.0.0" if name == distribution else real(name))
    with pytest.raises(ImproperlyConfigured) as raised:
        apps.get_app_config("core").ready()
    message = str(raised.value)
    assert f"{distribution}=={LIBRARIES[distribution].PINNED}" in message
    assert f"{distribution}==99.0.0" in message


@pytest.mark.django_db
def test_a_filled_result_cache_is_read_without_a_query(django_assert_num_queries) -> None:
    user = get_user_model().objects.create(username="cached")
    queryset = django.fill_result_cache(get_user_model().objects.filter(pk=-1), [user])
    with django_assert_num_queries(0):
        assert list(queryset) == [user]
        assert queryset.count() == 1


@pytest.mark.django_db
def test_a_filled_prefetch_cache_is_read_without_a_query(django_assert_num_queries) -> None:
    user = get_user_model().objects.create(username="prefetched")
    group = Group.objects.create(name="readers")
    django.fill_prefetch_cache(user, {"groups": [group]})
    with django_assert_num_queries(0):
        assert list(user.groups.all()) == [group]


@pytest.mark.django_db
def test_a_row_marked_loaded_counts_as_the_stored_row() -> None:
    """As a row loaded from the database, it does not clash with itself on a unique field."""
    user = get_user_model().objects.create(username="inserted by hand")
    same = get_user_model()(pk=user.pk, username=user.username)
    with pytest.raises(ValidationError):
        same.validate_unique()  # a new row with a taken username
    django.mark_loaded(same, "default").validate_unique()
