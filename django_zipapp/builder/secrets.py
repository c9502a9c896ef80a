"""No secret in an archive: the project's config files stay out, and what is packed is scanned.

The scan looks for the secrets the build itself knows (SECRET_KEY, the secret fields of the
goodconf instance as loaded for the build, database and e-mail passwords) and for secrets
by their shape (private keys, passwords and keys in URLs). It names the file and the kind
of secret, never the value: build logs are read by more people than the archive.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import BuildError
from .secret_shapes import is_placeholder, kind_by_shape

# Shorter values would match ordinary words of the project's code.
MIN_LENGTH = 8
# Django's mark of a development key: W002 warns about it and `serve` refuses it.
INSECURE_PREFIX = "django-insecure-"
URL_VALUE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


@dataclass(frozen=True)
class Secret:
    kind: str
    value: bytes


@dataclass(frozen=True)
class Finding:
    path: str
    kind: str


def known_secrets(settings: Any, config: object | None) -> list[Secret]:
    """The secret values this build has loaded, each with the kind the error names."""
    from django.core.exceptions import ImproperlyConfigured

    found: list[Secret] = []
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:
        key = ""  # empty at build time: the host gives it, as it should
    if isinstance(key, str) and not key.startswith(INSECURE_PREFIX):
        found.append(Secret("the value of SECRET_KEY", key.encode()))
    for alias, database in getattr(settings, "DATABASES", {}).items():
        password = database.get("PASSWORD")
        if isinstance(password, str):
            found.append(Secret(f"the password of DATABASES[{alias!r}]", password.encode()))
    if config is not None:
        found.extend(_config_secrets(config))
    return [secret for secret in _with_url_parts(found) if _long_enough(secret.value)]


def _config_secrets(config: object) -> Iterator[Secret]:
    for name in sorted(secret_field_names(config)):
        value: Any = getattr(config, name, None)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, str):
            yield Secret(f"the value of the config field {name}", value.encode())


def secret_field_names(config: object) -> set[str]:
    names = getattr(type(config), "secret_field_names", None)
    if callable(names):
        return set(names())
    from django_zipapp.config import SECRET_NAME

    fields = getattr(type(config), "model_fields", {})
    return {
        name
        for name, field in fields.items()
        if SECRET_NAME.search(name) or "Secret" in str(field.annotation)
    }


def _with_url_parts(secrets: Iterable[Secret]) -> Iterator[Secret]:
    # A URL's password is the secret in it: the rest (host, database name) is not.
    for secret in secrets:
        text = secret.value.decode(errors="replace")
        if not URL_VALUE.match(text):
            yield secret
            continue
        parts = urlsplit(text)
        if parts.password:
            yield Secret(f"the password in {secret.kind}", parts.password.encode())
        for name, value in parse_qsl(parts.query):
            if re.search(r"key|token|secret|password", name, re.I):
                yield Secret(f"the {name} in {secret.kind}", value.encode())


def _long_enough(value: bytes) -> bool:
    return len(value) >= MIN_LENGTH and not is_placeholder(value.decode(errors="replace"))


def scan(files: Iterable[tuple[str, Path]], secrets: list[Secret]) -> list[Finding]:
    """Each (name in the archive, file) that holds a secret, with the first kind found."""
    findings = []
    for name, path in files:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        kind = _kind_in(content, secrets)
        if kind is not None:
            findings.append(Finding(name, kind))
    return findings


def _kind_in(content: bytes, secrets: list[Secret]) -> str | None:
    for secret in secrets:
        if secret.value in content:
            return secret.kind
    return kind_by_shape(content)


def refuse(findings: list[Finding]) -> None:
    if not findings:
        return
    listed = "; ".join(f"{finding.path} ({finding.kind})" for finding in findings[:10])
    more = f"; and {len(findings) - 10} more" if len(findings) > 10 else ""
    raise BuildError(
        f"The build found secrets in {len(findings)} file(s) it would pack, so no archive "
        f"was built: {listed}{more}. Anyone with the archive could read them. Move each "
        "secret into the configuration the server reads (its config file or environment), "
        "or leave the file out with --exclude or ZIPAPP_EXCLUDE, and build again."
    )


def packed_files(site_packages: Path, static_root: Path, root: Path) -> list[tuple[str, Path]]:
    """The project's files in the staging folder, and the static files it collected from
    the project (the collected copies sit beside those of every installed app)."""
    files = []
    for directory, dirnames, filenames in os.walk(site_packages):
        here = Path(directory)
        dirnames[:] = sorted(name for name in dirnames if here / name != static_root)
        for name in sorted(filenames):
            files.append(((here / name).relative_to(site_packages).as_posix(), here / name))
    named = {name for name, _ in files}
    return files + sorted(item for item in _static_sources(root) if item[0] not in named)


def _static_sources(root: Path) -> Iterator[tuple[str, Path]]:
    from django.contrib.staticfiles.finders import get_finders
    from django.contrib.staticfiles.utils import get_files

    for finder in get_finders():
        # Only the finders' folders inside the project: Django's and the dependencies'
        # static files are no business of this scan.
        for storage in getattr(finder, "storages", {}).values():
            location = getattr(storage, "location", None)
            # A STATICFILES_DIRS entry that does not exist: collectstatic skipped it too.
            if not location or not Path(location).is_dir():
                continue
            if not Path(location).resolve().is_relative_to(root):
                continue
            for name in get_files(storage, ignore_patterns=["CVS", ".*", "*~"]):
                path = Path(storage.path(name)).resolve()
                if path.is_relative_to(root) and path.is_file():
                    yield path.relative_to(root).as_posix(), path


def config_instance(object_path: str | None) -> object | None:
    """The goodconf instance 'module:attribute', as the build has loaded it."""
    if object_path is None:
        return None
    module_name, _, attribute = object_path.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        from importlib import import_module

        try:
            module = import_module(module_name)
        except ImportError:
            return None
    return getattr(module, attribute, None)


# Names a development configuration goes by (the docs' dev.yaml among them).
DEVELOPMENT_CONFIG_NAMES = tuple(
    f"{stem}.{suffix}"
    for stem in ("dev", "development", "local", "secrets")
    for suffix in ("yaml", "yml", "toml", "json", "ini", "cfg", "conf", "env")
)


def config_files(config: object | None, root: Path) -> dict[Path, str]:
    """The files the project's goodconf class would read: never packed."""
    if config is None:
        return {}
    model_config = getattr(type(config), "model_config", {}) or {}
    named: list[tuple[Any, str]] = []
    for default in model_config.get("default_files") or ():
        named.append((default, "a config file the goodconf class reads"))
    variable = model_config.get("file_env_var")
    if variable and os.environ.get(variable):
        named.append((os.environ[variable], f"the config file {variable} names"))
    for loaded in _config_options(sys.argv):
        named.append((loaded, "the config file loaded for the build (-C)"))
    env_files = model_config.get("env_file") or ()
    for env_file in (env_files,) if isinstance(env_files, (str, Path)) else env_files:
        named.append((env_file, "a dotenv file the goodconf class reads"))
    found: dict[Path, str] = {}
    for path, reason in named:
        for base in (Path.cwd(), root):
            candidate = (base / Path(str(path)).expanduser()).resolve()
            if candidate.is_relative_to(root):
                found.setdefault(candidate, reason)
    return found


def _config_options(argv: list[str]) -> Iterator[str]:
    # goodconf's django_manage reads -C/--config FILE from manage.py's command line.
    for index, word in enumerate(argv):
        if word in ("-C", "--config") and index + 1 < len(argv):
            yield argv[index + 1]
        elif word.startswith("--config="):
            yield word.partition("=")[2]
