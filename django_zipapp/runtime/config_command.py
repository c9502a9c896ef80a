"""``./site.pyz config``: a sample config file, a check, or the values in effect."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config import SECRET_NAME
from .config import ConfigError, import_config

if TYPE_CHECKING:
    from goodconf import GoodConf

    from .archive import Archive

SAMPLE_FORMATS = ("yaml", "toml", "json")
MASK = "********"


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} config",
        description="Write a sample config file, check a configuration, or show the values "
        "in effect. The configuration is read from -C FILE (before or after 'config') "
        "and the environment, as for every other command.",
        allow_abbrev=False,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--sample",
        nargs="?",
        const="yaml",
        choices=SAMPLE_FORMATS,
        help="print a commented sample config file of every field (default: yaml)",
    )
    action.add_argument(
        "--check",
        action="store_true",
        help="validate the config file and the environment; exit status 0 if valid, else 1",
    )
    action.add_argument(
        "--show",
        action="store_true",
        help="print each value in effect and where it came from, secrets masked",
    )
    return parser


def run(archive: Archive, argv: list[str]) -> int:
    args = build_parser(archive.prog).parse_args(argv)
    object_path = archive.build.get("config_object")
    if object_path is None:
        raise ConfigError("This archive's project has no goodconf configuration to work with.")
    if args.sample:
        print(sample(type(import_config(object_path)), args.sample), end="")
        return 0
    if args.check:
        return check(archive)
    from goodconf import GoodConf

    config = archive.load_config()
    assert isinstance(config, GoodConf)  # the archive has a config object
    print(show(config), end="")
    return 0


def sample(config_class: type[GoodConf], file_format: str) -> str:
    text: str = getattr(config_class, f"generate_{file_format}")()
    return text if text.endswith("\n") else text + "\n"


def check(archive: Archive) -> int:
    try:
        archive.load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("The configuration is valid.")
    return 0


def show(config: GoodConf) -> str:
    origins: dict[str, str] = getattr(config, "origins", dict)()
    secret_names: set[str] = getattr(config, "secret_field_names", set)()
    width = max(len(name) for name in type(config).model_fields)
    lines = [f"{'FIELD':<{width}}  {'SOURCE':<11}  VALUE"]
    for name in type(config).model_fields:
        secret = name in secret_names or bool(SECRET_NAME.search(name))
        value = masked(name, getattr(config, name), secret)
        lines.append(f"{name:<{width}}  {origins.get(name, '?'):<11}  {value}")
    return "".join(line.rstrip() + "\n" for line in lines)


def masked(name: str, value: Any, secret: bool) -> str:
    if secret and value not in ("", None):
        if not (name.endswith("_URL") and isinstance(value, str)):
            return MASK
        # A URL's password is its secret; the rest says which server is used.
        parts = urlsplit(value)
        if parts.password is not None:
            user, _, host = parts.netloc.rpartition("@")
            value = parts._replace(netloc=f"{user.partition(':')[0]}:{MASK}@{host}").geturl()
    return json.dumps(value, default=str)
