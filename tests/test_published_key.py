"""serve refuses a SECRET_KEY written in the archive's own files, and answers
WHITENOISE_ROOT's files at the site's root, from the session's archive."""

from __future__ import annotations

import json
import zipfile

import pytest

from .archives import (
    PUBLISHED_KEY,
    ROOT_FILES,
    SECRET_KEY,
    Built,
    get,
    run_archive,
    running_server,
    site_env,
)

pytestmark = pytest.mark.e2e


def test_a_key_from_the_archives_own_files_is_refused(built: Built) -> None:
    result = run_archive(built, "serve", env=site_env(built, SECRET_KEY=PUBLISHED_KEY))
    assert result.returncode == 78
    assert result.stdout == ""
    assert result.stderr == (
        "error: SECRET_KEY is the value written in 'notes/upstream.py', one of the archive's "
        "own files, so anyone with the archive or the project's source can sign sessions, "
        "password reset links and tokens of the site; set a long random key of this "
        "server's own (python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), or "
        "give serve --allow-insecure-secret-key (config SERVE_WEAK_KEY_OK) to serve with it "
        "anyway.\n"
    )
    # The archive records digests, not the literals themselves once more.
    with zipfile.ZipFile(built.archive) as archive:
        recorded = archive.read("site-packages/_zipapp/published-keys.json").decode()
    assert PUBLISHED_KEY not in recorded
    assert "notes/upstream.py" in json.loads(recorded).values()
    assert SECRET_KEY not in recorded


def test_the_operator_may_serve_it_anyway_and_root_files_answer(migrated: Built) -> None:
    built = migrated
    environment = site_env(built, SECRET_KEY=PUBLISHED_KEY)
    log = built.work / "published-key-serve.log"
    options = ("--allow-insecure-secret-key",)
    with running_server(built.archive, environment, log, workers=1, options=options) as server:
        status, _, _ = get(server.base + "/")
        assert status == 200
        for name, content in ROOT_FILES.items():
            status, headers, body = get(f"{server.base}/{name}")
            assert (status, body) == (200, content), name
            assert headers["ETag"].startswith('"'), name
        _, headers, _ = get(server.base + "/robots.txt")
        assert headers["Content-Type"].startswith("text/plain")
