from __future__ import annotations

import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_zipapp.checks import check_settings


def static_backend(backend: str) -> override_settings:
    return override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": backend},
        }
    )


def ids() -> list[str | None]:
    return [message.id for message in check_settings()]


def test_defaults_pass() -> None:
    assert ids() == []


@pytest.mark.parametrize("name", ["ZIPAPP_OUTPUT", "ZIPAPP_PYTHON", "ZIPAPP_CONFIG_OBJECT"])
def test_string_settings(name: str) -> None:
    with override_settings(**{name: 42}):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E001"]
    assert messages[0].msg == f"{name} must be a string, not int."


def test_compress_must_be_bool() -> None:
    with override_settings(ZIPAPP_COMPRESS="no"):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E002"]
    assert messages[0].msg == "ZIPAPP_COMPRESS must be True or False, not 'no'."


@pytest.mark.parametrize("value", ["example.conf", "example.conf:", "1bad:config", "a:b:c"])
def test_config_object_shape(value: str) -> None:
    with override_settings(ZIPAPP_CONFIG_OBJECT=value):
        assert ids() == ["django_zipapp.E003"]


def test_config_object_valid() -> None:
    with override_settings(ZIPAPP_CONFIG_OBJECT="example.conf:config"):
        assert ids() == []


def test_requirements_must_exist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nope.txt"
    with override_settings(ZIPAPP_REQUIREMENTS=str(missing)):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E004"]
    assert messages[0].msg == f"ZIPAPP_REQUIREMENTS names {str(missing)!r}, which is not a file."
    (tmp_path / "nope.txt").write_text("Django\n")
    with override_settings(ZIPAPP_REQUIREMENTS=str(missing)):
        assert ids() == []


def test_unhashed_storage_warns() -> None:
    with static_backend("django.contrib.staticfiles.storage.StaticFilesStorage"):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.W001"]
    assert "CompressedManifestStaticFilesStorage" in (messages[0].hint or "")


def test_registered_with_django() -> None:
    with override_settings(ZIPAPP_COMPRESS="no"), pytest.raises(SystemCheckError) as caught:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "django_zipapp.E002" in str(caught.value)


def test_a_custom_manifest_storage_needs_no_warning() -> None:
    with static_backend("tests.storage.VersionedStorage"):
        assert ids() == []


def test_an_unimportable_storage_is_left_to_buildpyz() -> None:
    with static_backend("whitenoise.storage.NoSuchStorage"):
        assert ids() == []


def test_a_running_archive_skips_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from django_zipapp.boot import BOOT_MODULE

    monkeypatch.setitem(sys.modules, BOOT_MODULE, types.ModuleType(BOOT_MODULE))
    with override_settings(ZIPAPP_REQUIREMENTS="/build/machine/requirements.txt"):
        assert ids() == []
