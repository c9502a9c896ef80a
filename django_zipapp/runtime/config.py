"""Loading the project's goodconf configuration inside a running archive."""

from __future__ import annotations

import argparse
import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goodconf import GoodConf
    from pydantic import ValidationError


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

    module_name, _, attribute = object_path.partition(":")
    config: GoodConf = getattr(import_module(module_name), attribute)
    source = config_file or _file_from_environment(config)
    if source is not None:
        _check_readable(source)
    _share_config_file(config, config_file)
    try:
        config.load(config_file)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, config)) from None
    except SettingsError as exc:
        raise ConfigError(f"The configuration is invalid: {exc}.") from None
    except Exception as exc:  # a parser of YAML, TOML or JSON rejected the file
        raise ConfigError(describe_parse_error(exc, source)) from None
    return config


def _share_config_file(config: GoodConf, config_file: str | None) -> None:
    # A project's wsgi.py or a subprocess may call config.load() again; through the class's
    # own file variable they read the file given with -C, not only the environment.
    variable = config.model_config.get("file_env_var")
    if config_file is not None and variable:
        os.environ[variable] = os.path.abspath(config_file)


def _file_from_environment(config: GoodConf) -> str | None:
    variable = config.model_config.get("file_env_var")
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
        else:
            lines.append(f"{field}: {error['msg']}")
    return "The configuration is invalid:\n" + "\n".join(f"  {line}" for line in lines)


def describe_parse_error(exc: Exception, source: str | None) -> str:
    # Parser messages can quote the offending line, which may hold a secret: give only
    # the position.
    where = _position(exc)
    name = repr(source) if source else "the config file"
    return (
        f"The config file {name} could not be parsed ({type(exc).__name__}{where}). "
        "Check its syntax; the file's extension (.yaml, .yml, .toml, .json) decides the format."
    )


def _position(exc: Exception) -> str:
    line: Any = getattr(exc, "lineno", None)
    mark = getattr(exc, "problem_mark", None)
    if line is None and mark is not None:
        line = mark.line + 1
    return f" at line {line}" if line is not None else ""
