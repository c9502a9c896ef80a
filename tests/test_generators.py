"""django-compressor's offline mode, from PyPI: refused without `compress`, reproducible with it.

The build runs its commands with DEBUG off, as the archive runs, even when the build
machine's environment turns DEBUG on (and with it, by default, compressor off).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .archives import DEBUG_FROM_ENVIRONMENT, PROJECTS, Built, build_in

pytestmark = pytest.mark.e2e


def compressed_copy(folder: Path, *, commands: bool = True) -> Path:
    project = folder / "project"
    shutil.copytree(PROJECTS / "compressed", project, ignore=shutil.ignore_patterns("__pycache__"))
    settings = project / "compressed" / "settings.py"
    text = settings.read_text() + DEBUG_FROM_ENVIRONMENT
    if not commands:
        text = text.replace('ZIPAPP_BUILD_COMMANDS = ["compress"]\n', "")
    settings.write_text(text)
    return project


def test_offline_without_compress_is_refused_before_building(tmp_path: Path) -> None:
    project = compressed_copy(tmp_path, commands=False)
    result = build_in(project, "-o", str(tmp_path / "site.pyz"), env={"SECRET_KEY": ""})
    assert result.returncode == 1
    assert result.stdout == ""  # not one step began
    assert result.stderr == (
        "CommandError: The system checks found 1 error(s), so no archive was built. "
        "django_zipapp.E013: COMPRESS_OFFLINE is on but 'compress' is not among "
        "ZIPAPP_BUILD_COMMANDS, so in the archive every page with a {% compress %} tag "
        "would fail with OfflineGenerationError. Add 'compress' to ZIPAPP_BUILD_COMMANDS "
        "(or build with --build-command compress), so that the build generates its files.\n"
    )
    # The command line's build commands count.
    result = build_in(project, "--list", "--build-command", "compress", env={"SECRET_KEY": ""})
    assert result.returncode == 0, result.stderr


def test_built_with_debug_on_verified_and_reproducible(compressed: Built) -> None:
    # The session's build (conftest.py) ran with DEBUG=1 in its environment and
    # DEBUG_FROM_ENVIRONMENT in the settings. The verification served / from the new
    # archive: 200, its CSS compressed offline.
    assert "- Verifying: check --deploy, migrate, serve, then GET /" in compressed.build_output
    env = {"SECRET_KEY": "", "DEBUG": "1"}
    twice = build_in(compressed.work / "project", "--check-reproducible", env=env)
    assert twice.returncode == 0, twice.stdout + twice.stderr
    assert twice.stdout.splitlines()[-1] == "Two builds in separate copies are byte-identical."


@pytest.mark.heavy
def test_a_command_that_writes_into_a_static_folder_is_collected(tmp_path: Path) -> None:
    # As django-sass-processor's compilescss does: the CSS beside its source, in a folder
    # of STATICFILES_DIRS, after collectstatic ran; {% static %} must find it in the
    # manifest of the archive.
    project = compressed_copy(tmp_path)
    commands = project / "themes" / "management" / "commands"
    commands.mkdir(parents=True)
    for folder in (project / "themes", project / "themes" / "management", commands):
        (folder / "__init__.py").write_text("")
    (commands / "buildcss.py").write_text(
        "from django.conf import settings\n"
        "from django.core.management.base import BaseCommand\n\n\n"
        "class Command(BaseCommand):\n"
        "    def handle(self, *args, **options):\n"
        '        out = settings.BASE_DIR / "static" / "css" / "theme.css"\n'
        '        out.write_text("h1 { color: #336699; }\\n")\n'
    )
    settings = project / "compressed" / "settings.py"
    text = settings.read_text().replace('    "compressor",\n', '    "compressor",\n    "themes",\n')
    settings.write_text(text.replace('["compress"]', '["buildcss", "compress"]'))
    template = project / "templates" / "home.html"
    template.write_text(
        template.read_text()
        .replace("{% load compress %}", "{% load compress static %}")
        .replace("</head>", '<link rel="stylesheet" href="{% static \'css/theme.css\' %}"></head>')
    )
    result = build_in(
        project, "-o", str(tmp_path / "site.pyz"), env={"SECRET_KEY": ""}, verify=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "- Build commands wrote 1 file(s) into static folders: static/css/theme.css" in lines
    # The verification requested / and the theme's CSS it links, by its hashed name.
    assert any(line.startswith("- Verified 1 pages (/) and") for line in lines), lines
