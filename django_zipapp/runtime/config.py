"""Loading the project's goodconf configuration inside a running archive."""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goodconf import GoodConf
    from pydantic import ValidationError


# goodconf reads a file by its extension, and anything else as JSON.
FORMATS = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}
# Where the errors of the parsers goodconf uses come from (tomlkit stands in for tomllib
# on Python 3.10); matched by module so that no parser is imported just to be caught.
PARSERS = frozenset({"json", "tomllib", "tomlkit", "ruamel"})


class ConfigError(Exception):
    """The configuration cannot be used; the message never contains a configured value."""


def split_config_option(argv: list[str]) -> tuple[str | None, list[str]]:
    """Take ``-C/--config FILE`` out of the arguments, wherever it stands."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-C", "--config", metavar="FILE")
    known, rest = parser.parse_known_args(argv)
    return known.config, rest


def load_config(object_path: str, config_file: str | None) -> GoodConf:
    """Import the project's goodconf instance and load it from the file and environment."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    config = import_config(object_path)
    source = _config_source(config, config_file)
    if source is not None:
        _check_readable(source)
    _check_credentials_directory()
    try:
        config.load(config_file)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, config)) from None
    except SettingsError as exc:
        where = f" ({source!r})" if source else ""
        raise ConfigError(f"The configuration is invalid: {exc}{where}.") from None
    except Exception as exc:
        if source is None or type(exc).__module__.split(".")[0] not in PARSERS:
            raise  # not the file's syntax: a fault in the project's code, shown as such
        raise ConfigError(describe_parse_error(exc, source)) from None
    warn_about_exposed_secrets(config, source)
    return config


def import_config(object_path: str) -> GoodConf:
    """The project's goodconf instance, not loaded yet."""
    module_name, _, attribute = object_path.partition(":")
    config: GoodConf = getattr(import_module(module_name), attribute)
    return config


def _config_source(config: GoodConf, config_file: str | None) -> str | None:
    """The file goodconf will read: -C, else the class's own file variable."""
    variable = config.model_config.get("file_env_var")
    if config_file is not None and variable:
        # A project's wsgi.py or a subprocess may call config.load() again; through the
        # class's own variable they read the file given with -C, not only the environment.
        os.environ[variable] = os.path.abspath(config_file)
    if config_file is not None:
        return config_file
    return os.environ.get(variable) if variable else None


def _check_readable(path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"The config file {path!r} cannot be read: {exc.strerror}. "
            "Give the path of a readable YAML, TOML or JSON file."
        ) from None


def _check_credentials_directory() -> None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory and not os.path.isdir(directory):
        raise ConfigError(
            f"CREDENTIALS_DIRECTORY names {directory!r}, which is not a directory. "
            "systemd sets it for units with LoadCredential= or SetCredential=; unset it "
            "or point it at the directory that holds one file per field."
        )


def warn_about_exposed_secrets(config: GoodConf, config_file: str | None) -> None:
    """Say so when a file that gave a secret value can be read by other users."""
    origins = getattr(config, "origins", None)
    if origins is None:  # not a ZipappConfig: which fields are secret is unknown
        return
    secret = type(config).secret_field_names()  # type: ignore[attr-defined]
    given = origins()
    env_file = config.model_config.get("env_file")
    env_files = [env_file] if isinstance(env_file, (str, os.PathLike)) else (env_file or [])
    files = [(config_file, "file")] + [(str(path), "env file") for path in env_files]
    for path, origin in files:
        held = sorted(n for n in secret if given.get(n) == origin and getattr(config, n))
        if path and held and _readable_by_others(path):
            print(
                f"warning: {path!r} holds {', '.join(held)} and can be read by other users. "
                f"Make it readable by the service's user only: chmod 600 {path}",
                file=sys.stderr,
            )


def _readable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def describe_validation_error(exc: ValidationError, config: GoodConf) -> str:
    prefix = config.model_config.get("env_prefix") or ""
    lines = []
    # include_input=False: a rejected value may be a secret and must not reach a log.
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"]) or "configuration"
        if error["type"] == "missing":
            variable = f"{prefix}{error['loc'][0]}".upper() if error["loc"] else "?"
            lines.append(
                f"{field}: required; set it in the config file or the {variable} "
                "environment variable"
            )
        elif error["type"] == "extra_forbidden":
            lines.append(f"{field}: not a setting of this site; check its spelling or remove it")
        else:
            lines.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return "The configuration is invalid:\n" + "\n".join(f"  {line}" for line in lines)


def describe_parse_error(exc: Exception, source: str | None) -> str:
    # Parser messages can quote the offending line, which may hold a secret: give only
    # the format and the line number.
    file_format = FORMATS.get(Path(source).suffix, "JSON") if source else "YAML, TOML or JSON"
    subject = f"The config file {source!r}" if source else "The config file"
    return (
        f"{subject} is not valid {file_format}{_position(exc)}. Check its "
        "syntax; the file's extension (.yaml, .yml, .toml, .json) decides how it is read."
    )


def _position(exc: Exception) -> str:
    line: Any = getattr(exc, "lineno", None)  # json
    mark = getattr(exc, "problem_mark", None)  # ruamel.yaml
    if line is None and mark is not None:
        line = mark.line + 1
    if line is None:
        line = getattr(exc, "line", None)  # tomlkit
    if line is None:  # tomllib: only the number is taken from its message
        match = re.search(r"at line (\d+)", str(exc))
        line = match[1] if match else None
    return f" (line {line})" if line is not None else ""
