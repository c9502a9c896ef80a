"""The SBOM, the provenance record and signatures, piece by piece, without building."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.provenance import git_state, input_digests, project_version
from django_zipapp.builder.sbom import Bundled, make_sbom
from django_zipapp.builder.signing import load_signing_key, sign_file, verify_signature
from django_zipapp.builder.target import Target, make_target
from django_zipapp.runtime.attestations import provenance_statement
from tests.sbom import check_sbom
from tests.signing import SIGNING_PASSWORD, make_signing_key, public_key

METADATA = {
    "Django": "Metadata-Version: 2.4\nName: Django\nVersion: 5.2.19\n"
    "License-Expression: BSD-3-Clause\n",
    "old_style": "Metadata-Version: 2.1\nName: old_style\nVersion: 1.0\nLicense: UNKNOWN\n"
    "Classifier: License :: OSI Approved :: MIT License\n",
}


def site_packages(folder: Path) -> Path:
    for name, metadata in METADATA.items():
        version = metadata.split("Version: ")[2].split("\n")[0]
        dist_info = folder / f"{name}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(metadata)
        (dist_info / "RECORD").write_text(f"{name}/__init__.py,sha256=abc,0\n")
    return folder


def test_the_sbom_is_valid_and_made_of_the_content_only(tmp_path: Path) -> None:
    folder = site_packages(tmp_path / "site-packages")

    def sbom_of(folder: Path) -> bytes:
        return make_sbom(
            sources=[folder], project="mysite", version="1.2", target=Target(), built_at=1700000000
        )

    sbom = sbom_of(folder)
    assert sbom == sbom_of(folder)
    document = json.loads(sbom)
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    by_name = {component["name"]: component for component in document["components"]}
    assert by_name["Django"]["purl"] == "pkg:pypi/django@5.2.19"
    assert by_name["Django"]["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    assert by_name["old_style"]["purl"] == "pkg:pypi/old-style@1.0"
    assert by_name["old_style"]["licenses"] == [{"license": {"name": "MIT License"}}]
    assert by_name["python"]["type"] == "platform"
    # Another distribution: another serial number.
    (folder / "Django-5.2.19.dist-info" / "RECORD").write_text("changed\n")
    assert json.loads(sbom_of(folder))["serialNumber"] != document["serialNumber"]


def test_the_sbom_names_a_bundled_interpreter(tmp_path: Path) -> None:
    tarball = tmp_path / "cpython-3.12.8+20250106-x86_64-unknown-linux-gnu-install_only.tar.gz"
    tarball.write_bytes(b"not really a tarball")
    folder = site_packages(tmp_path / "site-packages")
    sbom = make_sbom(
        sources=[folder], project="mysite", version=None, target=make_target([], "3.12"),
        built_at=1700000000, bundled=Bundled(str(tarball)),
    )  # fmt: skip
    (interpreter,) = [c for c in json.loads(sbom)["components"] if c["name"] == "cpython"]
    assert interpreter["purl"] == "pkg:generic/cpython@3.12"
    assert interpreter["properties"] == [
        {"name": "django-zipapp:interpreter:source", "value": tarball.name}
    ]
    assert len(interpreter["hashes"][0]["content"]) == 64


def test_the_provenance_names_the_repository_without_its_credentials(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        identity = ["-c", "user.name=Builder", "-c", "user.email=builder@example.com"]
        subprocess.run(["git", *identity, *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (tmp_path / "requirements.txt").write_text("Django>=5.2\n")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "First")
    git("remote", "add", "origin", "https://builder:s3cret@git.example.com/site.git")
    state = git_state(tmp_path)
    assert state["repository"] == "https://git.example.com/site.git"
    assert state["dirty"] is False
    inputs = input_digests(tmp_path, [tmp_path / "requirements.txt"])
    assert [item["name"] for item in inputs] == ["requirements.txt", "uv.lock"]
    build = {"git": state, "provenance": {"inputs": inputs}, "build_id": "b" * 64}
    archive = tmp_path / "site.pyz"
    archive.write_bytes(b"archive")
    statement = provenance_statement(archive, build)
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0] == {
        "uri": f"git+https://git.example.com/site.git@{state['commit']}",
        "digest": {"gitCommit": state["commit"]},
    }
    assert statement["predicate"]["buildDefinition"]["internalParameters"] == {
        "sourceTreeClean": True
    }


def test_a_wrong_password_or_a_public_key_is_refused_before_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_signing_key(tmp_path)
    monkeypatch.setenv("ZIPAPP_SIGN_PASSWORD", "wrong")
    with pytest.raises(BuildError, match=r"The password for the secret key .* is wrong"):
        load_signing_key(key, prompt=False)
    with pytest.raises(BuildError, match="is not a minisign secret key"):
        load_signing_key(key.with_name("minisign.pub"), prompt=False)
    monkeypatch.delenv("ZIPAPP_SIGN_PASSWORD")
    with pytest.raises(BuildError, match="is encrypted: set ZIPAPP_SIGN_PASSWORD"):
        load_signing_key(key, prompt=False)
    monkeypatch.setenv("ZIPAPP_SIGN_PASSWORD", SIGNING_PASSWORD)
    archive = tmp_path / "site.pyz"
    archive.write_bytes(b"an archive")
    sign_file(archive, load_signing_key(key, prompt=False))
    assert verify_signature(archive, public_key(key)) == "file:site.pyz\thashed"
    assert verify_signature(archive, str(key.with_name("minisign.pub"))) == "file:site.pyz\thashed"


def test_check_sbom_refuses_a_missing_distribution(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "site.pyz"
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("site-packages/extra-1.0.dist-info/METADATA", "Name: extra\nVersion: 1.0\n")
    sbom = make_sbom(
        sources=[site_packages(tmp_path / "sp")], project="mysite", version=None,
        target=Target(), built_at=1700000000,
    )  # fmt: skip
    with pytest.raises(AssertionError):
        check_sbom(archive, sbom, "mysite")


def test_the_version_is_read_up_to_the_folder_of_the_requirements(tmp_path: Path) -> None:
    # manage.py in src/, the Pipfile and the pyproject.toml at the repository's root.
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "api"\nversion = "1.2.0"\n')
    assert project_version(tmp_path / "src", tmp_path) == "1.2.0"
    # Requirements beside manage.py: the repository above is not the project's.
    assert project_version(tmp_path / "src", tmp_path / "src") is None
    (tmp_path / "src" / "setup.cfg").write_text("[metadata]\nversion = 2.0\n")
    assert project_version(tmp_path / "src", tmp_path) == "2.0"
