"""`site.pyz systemd-run`: the systemd-run line made from an installed unit's settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from django_zipapp.runtime.service_run import service_settings, systemd_run_command

# `systemctl cat site.service` of a unit from `site.pyz -C ... systemd-unit`, and a drop-in.
INSTALLED = """\
# /etc/systemd/system/site.service
[Unit]
Description=example (/srv/site/site.pyz)

[Service]
Type=notify
NotifyAccess=all
LoadCredential=config.yaml:/etc/site/config.yaml
ExecStart=/usr/bin/python3.11 /srv/site/site.pyz -C %d/config.yaml serve --bind 127.0.0.1:8000
ExecReload=/bin/kill -s USR2 $MAINPID
Restart=on-failure
RestartPreventExitStatus=78
EnvironmentFile=/etc/site.env
StateDirectory=site
CacheDirectory=site
RuntimeDirectory=site
DynamicUser=yes
SystemCallFilter=~@privileged @resources
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
Environment="MEDIA_ROOT=%S/site/media"

[Install]
WantedBy=multi-user.target

# /etc/systemd/system/site.service.d/override.conf
[Service]
Environment=LOG_LEVEL=DEBUG \\
    KEEP_BUILDS=2
"""


def test_the_line_keeps_the_sandbox_and_names_the_services_user() -> None:
    line = systemd_run_command("site", INSTALLED, Path("/srv/site/site.pyz.new"), ["migrate"])
    unit = re.fullmatch(r"--unit=(site-run-[0-9a-f]{8})", line[1])
    assert unit
    credentials = f"/run/credentials/{unit[1]}.service"
    properties = [item.removeprefix("--property=") for item in line if item.startswith("--prop")]
    assert properties == [
        "User=site",
        "LoadCredential=config.yaml:/etc/site/config.yaml",
        "EnvironmentFile=/etc/site.env",
        "StateDirectory=site",
        "CacheDirectory=site",
        "DynamicUser=yes",
        "SystemCallFilter=~@privileged @resources",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        'Environment="MEDIA_ROOT=/var/lib/site/media"',
        "Environment=LOG_LEVEL=DEBUG KEEP_BUILDS=2",
    ]
    assert line[2:6] == ["--wait", "--collect", "--quiet", "--pipe"]
    command = line[line.index("--") + 1 :]
    assert command == [
        "/usr/bin/python3.11", "/srv/site/site.pyz.new", "-C", f"{credentials}/config.yaml",
        "migrate",
    ]  # fmt: skip


def test_a_unit_that_names_its_user_keeps_it() -> None:
    text = "[Service]\nUser=web\nDynamicUser=yes\nExecStart=/srv/site/site.pyz serve\n"
    assert service_settings(text) == [
        ("User", "web"), ("DynamicUser", "yes"), ("ExecStart", "/srv/site/site.pyz serve"),
    ]  # fmt: skip
    line = systemd_run_command("site", text, Path("/srv/site/site.pyz"), ["shell"])
    assert "--property=User=web" in line and "--property=User=site" not in line
    assert line[line.index("--") + 1 :] == ["/srv/site/site.pyz", "shell"]


def test_variables_for_the_command_are_given_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's environment does not reach the transient unit: -E sets a variable."""
    from django_zipapp.runtime.service_run import _assignment, build_parser

    parser = build_parser("site.pyz")
    assert "Your shell's environment does not reach COMMAND" in parser.format_help()
    args = parser.parse_args(["-E", "DJANGO_SUPERUSER_PASSWORD", "-E", "A=1=2", "migrate"])
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "from-the-shell")
    environment = [_assignment(parser, item) for item in args.setenv]
    assert environment == ["DJANGO_SUPERUSER_PASSWORD=from-the-shell", "A=1=2"]
    line = systemd_run_command(
        "site", INSTALLED, Path("/srv/site/site.pyz"), ["migrate"], environment
    )
    options = line[: line.index("--")]
    assert options[-2:] == ["--setenv=DJANGO_SUPERUSER_PASSWORD=from-the-shell", "--setenv=A=1=2"]
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD")
    with pytest.raises(SystemExit):
        _assignment(parser, "DJANGO_SUPERUSER_PASSWORD")
