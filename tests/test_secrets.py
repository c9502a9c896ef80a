"""No secret in an archive: config files stay out, and a build that would pack one refuses."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from tests.archives import Built, build_in, copy_example, run_archive

KEY = "prod-" + "Zq8vLr2mXk4sTn7wPb1c" * 3
MAIL_PASSWORD = "mail-pw-Hy7Lq2Rz9Kc"
DB_PASSWORD = "db-pw-Vt5Nw3Xe8Jd"
API_KEY = "apikey-Fr6Gm1Ps4Wb"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END"

# Where a project keeps files, next to manage.py and inside its packages, and what each holds.
PLANTED = {
    "notes.txt": f"the production key: {KEY}\n",
    "deploy.yaml": f"MAIL_PASSWORD: {MAIL_PASSWORD}\n",
    "README.md": f"Connect with postgres://site:{DB_PASSWORD}@db:5432/site\n",
    "id_ed25519": PRIVATE_KEY,
    "notes/fixtures/users.json": f'[{{"token": "{KEY}"}}]\n',
    "notes/integrations.py": f'API = "https://api.example.com/v1/items?api_key={API_KEY}"\n',
    "notes/static/notes/app.js": f'const mail = "{MAIL_PASSWORD}";\n',
    "example/settings_extra.py": f'CACHE_URL = "redis://:{DB_PASSWORD}@cache:6379/0"\n',
}
KINDS = {
    "notes.txt": "the value of SECRET_KEY",
    "deploy.yaml": "the value of the config field MAIL_PASSWORD",
    "README.md": "a password in a URL",
    "id_ed25519": "a private key",
    "notes/fixtures/users.json": "the value of SECRET_KEY",
    "notes/integrations.py": "a key in a URL",
    "notes/static/notes/app.js": "the value of the config field MAIL_PASSWORD",
    "example/settings_extra.py": "a password in a URL",
}
# Never packed, so never reported: the development config, dotenv files and deploy tooling.
DEVELOPMENT = {
    "docker-compose.yml": f"DATABASE_URL: postgres://site:{DB_PASSWORD}@db:5432/site\n",
    "dev.yaml": f"SECRET_KEY: {KEY}\nDEBUG: true\n",
    "site.toml": f'SECRET_KEY = "{KEY}"\n',
    ".env": f"SECRET_KEY={KEY}\n",
}


def _add_mail_password(project: Path) -> None:
    conf = project / "example" / "conf.py"
    conf.write_text(
        conf.read_text().replace(
            "\n\nconfig = ExampleConfig()",
            '\n    MAIL_PASSWORD: str = Field(default="", description="SMTP password.")'
            "\n\n\nconfig = ExampleConfig()",
        )
    )


def _plant(project: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(content)


@pytest.mark.e2e
def test_planted_secrets_are_refused_naming_file_and_kind(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    _add_mail_password(project)
    _plant(project, {**PLANTED, **DEVELOPMENT})
    environment = {"SECRET_KEY": KEY, "MAIL_PASSWORD": MAIL_PASSWORD, "EXAMPLE_CONFIG": "site.toml"}
    build = build_in(project, "-o", str(tmp_path / "site.pyz"), env=environment)
    output = build.stdout + build.stderr
    assert (build.returncode, "Traceback" in output) == (1, False), output
    error = build.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"CommandError: The build found secrets in {len(PLANTED)} file(s) it would pack, "
        "so no archive was built: "
    ), error
    for name, kind in KINDS.items():
        assert f"{name} ({kind})" in error
    for name in DEVELOPMENT:
        assert f"{name} (" not in error
    for value in (KEY, MAIL_PASSWORD, DB_PASSWORD, API_KEY, "b3BlbnNzaC1rZXktdjEAAAAA"):
        assert value not in output
    assert not (tmp_path / "site.pyz").exists()


@pytest.mark.e2e
def test_development_config_is_never_packed_and_debug_is_the_archives(tmp_path: Path) -> None:
    """The quickstart's dev.yaml, loaded for the build with DEBUG on: left out, and W003
    judges the archive's DEBUG (off by default), not the build's."""
    project = copy_example(tmp_path / "project")
    _plant(project, {name: DEVELOPMENT[name] for name in ("dev.yaml", ".env")})
    _plant(
        project,
        {
            "notes/tests.py": "def test_home(): pass\n",
            "notes/test_views.py": "",
            "tests/__init__.py": "",
            "tests/test_site.py": "",
            "conftest.py": "",
            "assets/logo.txt": "logo\n",
            # Compiles with a SyntaxWarning (an invalid escape), as old dependencies do.
            "notes/legacy.py": 'PATTERN = "\\d+"\n',
        },
    )
    settings = project / "example" / "settings.py"
    # A front end's output folder that is not built yet: Django only warns (W004).
    settings.write_text(
        settings.read_text()
        + '\nSTATICFILES_DIRS = [BASE_DIR / "assets", BASE_DIR / "frontend" / "dist"]\n'
    )
    environment = {"EXAMPLE_CONFIG": "dev.yaml"}
    build = build_in(project, "-o", str(tmp_path / "site.pyz"), env=environment)
    assert build.returncode == 0, build.stdout + build.stderr
    assert (
        f"- Note: STATICFILES_DIRS names {str(project / 'frontend' / 'dist')!r}, which does "
        "not exist: skipped, as collectstatic does (Django's check staticfiles.W004)"
    ) in build.stdout.splitlines()
    assert "W003" not in build.stderr
    assert KEY not in build.stdout + build.stderr
    with zipfile.ZipFile(tmp_path / "site.pyz") as archive:
        names = archive.namelist()
        blob = b"".join(archive.read(name) for name in names if not name.endswith("/"))
    assert KEY.encode() not in blob
    packed = {name.removeprefix("site-packages/") for name in names}
    for left_out in (
        "dev.yaml",
        ".env",
        "manage.py",
        "notes/tests.py",
        "notes/test_views.py",
        "tests/__init__.py",
    ):
        assert left_out not in packed
    assert "conftest.py" not in packed
    assert "assets/logo.txt" not in packed  # collected instead
    assert [name for name in packed if name.startswith("staticfiles/logo.")] != []
    assert "notes/views.py" in packed

    # What a library that stats them sees (strawberry-graphql's lazy types do), and no
    # compiler warning on the first start.
    built = Built(tmp_path / "site.pyz", build.stdout, tmp_path)
    probe = "import __main__, os, sys; print(os.path.isfile(__main__.__file__), sys.argv[0])"
    shell = run_archive(built, "shell", "-c", probe, wrapper=(sys.executable,))
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[-1] == f"True {tmp_path / 'site.pyz'}"
    assert shell.stderr == ""

    listing = build_in(project, "--list", env=environment)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert "  - dev.yaml  (a development config file)" in lines
    assert "  - manage.py  (the development entry point)" in lines
    assert "  - notes/tests.py  (the project's tests (--include ships them))" in lines
    assert "  - tests/  (the project's tests (--include ships them))" in lines
    reason = "a STATICFILES_DIRS source: collectstatic copied it (--include ships it)"
    assert f"  - assets/  ({reason})" in lines


@pytest.mark.e2e
def test_a_goodconf_class_without_a_known_instance_is_refused(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    conf = project / "example" / "conf.py"
    conf.write_text(
        conf.read_text().replace(
            "config = ExampleConfig()",
            "import functools\n\n\n@functools.cache\ndef get_config() -> ExampleConfig:\n"
            "    return ExampleConfig(load=True)\n",
        )
    )
    settings = project / "example" / "settings.py"
    text = settings.read_text().replace("from example.conf import config", "")
    settings.write_text(text.replace("config.", "get_config()."))
    settings.write_text("from example.conf import get_config\n" + settings.read_text())
    (project / "manage.py").write_text(
        "import os, sys\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")\n'
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    build = build_in(project, "-o", str(tmp_path / "site.pyz"), env={"SECRET_KEY": KEY})
    assert (build.returncode, "Traceback" in build.stderr) == (1, False), build.stderr
    assert build.stderr.strip().splitlines()[-1] == (
        "CommandError: The project defines the goodconf class 'ExampleConfig' in "
        "'example.conf', but no instance of it was found among the modules the settings "
        "loaded, so the archive would not know which configuration to load before its "
        "settings. Create one in a module the settings import (config = ExampleConfig()), "
        "or name it with --config-object or ZIPAPP_CONFIG_OBJECT as 'module:attribute'."
    )
