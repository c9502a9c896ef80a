from __future__ import annotations

from types import SimpleNamespace

import pytest

from django_zipapp.runtime.serve import build_parser, default_workers, gunicorn_options


def options(argv: list[str], config: object | None = None) -> dict[str, object]:
    return gunicorn_options(build_parser("site.pyz").parse_args(argv), config, "site.pyz")


def test_defaults() -> None:
    result = options([])
    assert result["bind"] == ["127.0.0.1:8000"]
    assert result["workers"] == default_workers()
    assert result["threads"] == 1
    assert result["timeout"] == 30
    assert result["accesslog"] == "-"
    assert result["preload_app"] is True
    assert result["control_socket_disable"] is True


def test_config_beats_defaults() -> None:
    config = SimpleNamespace(
        SERVE_BIND="0.0.0.0:80, unix:/run/site.sock",
        SERVE_WORKERS=3,
        SERVE_THREADS=4,
        SERVE_TIMEOUT=90,
        SERVE_ACCESS_LOG="",
    )
    result = options([], config)
    assert result["bind"] == ["0.0.0.0:80", "unix:/run/site.sock"]
    assert (result["workers"], result["threads"], result["timeout"]) == (3, 4, 90)
    assert result["accesslog"] is None


def test_command_line_beats_config() -> None:
    config = SimpleNamespace(SERVE_BIND="0.0.0.0:80", SERVE_WORKERS=3, SERVE_ACCESS_LOG="")
    result = options(
        ["--bind", "127.0.0.1:9000", "--bind", "[::1]:9000", "--workers", "2",
         "--access-log", "/var/log/site.log"],
        config,
    )  # fmt: skip
    assert result["bind"] == ["127.0.0.1:9000", "[::1]:9000"]
    assert result["workers"] == 2
    assert result["accesslog"] == "/var/log/site.log"


def test_config_without_serve_fields() -> None:
    assert options([], SimpleNamespace())["bind"] == ["127.0.0.1:8000"]


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_numbers_are_usage_errors(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser("site.pyz").parse_args(["--workers", value])
    assert caught.value.code == 2
    assert "site.pyz serve: error: argument --workers:" in capsys.readouterr().err
