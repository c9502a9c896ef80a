"""Everything a user can set or meet is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management.base import BaseCommand

from django_zipapp.conf import ZipappSettings
from django_zipapp.config import ZipappConfig
from django_zipapp.management.commands.buildpyz import Command
from django_zipapp.runtime import ARCHIVE_COMMANDS, config_command, systemd
from django_zipapp.runtime.serve import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHECKS = Path(__file__).resolve().parent.parent / "django_zipapp" / "checks.py"


@pytest.fixture(scope="module")
def docs() -> str:
    return "\n".join(path.read_text() for path in sorted(DOCS.glob("*.rst")))


def option_strings(parser: object) -> set[str]:
    actions = getattr(parser, "_actions", [])
    return {s for action in actions for s in action.option_strings if s.startswith("--")}


def test_every_setting(docs: str) -> None:
    settings = [f"ZIPAPP_{name}" for name in vars(ZipappSettings) if name.isupper()]
    assert len(settings) >= 12
    assert [name for name in settings if name not in docs] == []


def test_every_buildpyz_option(docs: str) -> None:
    parser = Command().create_parser("manage.py", "buildpyz")
    django_own = option_strings(BaseCommand().create_parser("manage.py", "any"))
    ours = option_strings(parser) - django_own
    assert {"--output", "--requirements", "--python", "--no-compress"} <= ours
    assert [option for option in sorted(ours) if option not in docs] == []


def test_every_serve_option(docs: str) -> None:
    options = option_strings(build_parser("site.pyz")) - {"--help"}
    assert [option for option in sorted(options) if option not in docs] == []


def test_every_systemd_unit_option(docs: str) -> None:
    options = option_strings(systemd.build_parser("site.pyz")) - {"--help"}
    assert {"--socket", "--no-network", "--env-file", "--writable"} <= options
    assert [option for option in sorted(options) if option not in docs] == []


def test_keep_builds_is_documented(docs: str) -> None:
    assert "``KEEP_BUILDS`` (default 3" in docs


def test_every_check_id(docs: str) -> None:
    ids = sorted(set(re.findall(r"django_zipapp\.[EW]\d{3}", CHECKS.read_text())))
    assert len(ids) == 17
    assert [check for check in ids if check not in docs] == []


def test_every_config_field_with_its_default(docs: str) -> None:
    for name, field in ZipappConfig.model_fields.items():
        assert f".. py:attribute:: ZipappConfig.{name}\n" in docs
        if not field.is_required():
            assert f"{name}\n   :type: " in docs
    assert [name for name in ZipappConfig.model_fields if f"  {name}  " not in docs] == []


def test_every_config_command_option(docs: str) -> None:
    options = option_strings(config_command.build_parser("site.pyz")) - {"--help"}
    assert options == {"--sample", "--check", "--show"}
    assert [option for option in sorted(options) if f".. option:: {option}" not in docs] == []


def test_every_runtime_command(docs: str) -> None:
    assert "serve" in ARCHIVE_COMMANDS
    assert [name for name in ARCHIVE_COMMANDS if f"``{name}" not in docs] == []


def test_every_config_field(docs: str) -> None:
    fields = list(ZipappConfig.model_fields)
    assert "SERVE_BIND" in fields
    assert [field for field in fields if f"``{field}``" not in docs] == []
