"""What an extraction leaves in the archive, and how a site that asks for it gets it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from django.test import override_settings

from django_zipapp.builder.packed import left_packed, unpacked_language
from django_zipapp.runtime.catalogues import language_of
from tests.archives import Built, run_archive, site_env
from tests.archives import left_packed as packed_in

MARKER = ".django-zipapp-complete"
DEPENDENCIES = frozenset({"django", "django-6.0.dist-info", "pkg"})
# Left packed whatever the language: what only developers' tools read.
NOT_CATALOGUES = [
    "site-packages/django/conf/locale/de/LC_MESSAGES/django.po",
    "site-packages/django-6.0.dist-info/RECORD",
    "site-packages/django-6.0.dist-info/WHEEL",
    "site-packages/django-6.0.dist-info/licenses/LICENSE",
    "site-packages/pkg/__init__.pyi",
    "site-packages/pkg/py.typed",
    "site-packages/pkg/_speedups.c",
    "site-packages/pkg/include/pkg.h",
]
NAMES = [
    *NOT_CATALOGUES,
    "site-packages/django/conf/locale/de/LC_MESSAGES/django.mo",
    "site-packages/django/conf/locale/pt_BR/LC_MESSAGES/djangojs.mo",
    "site-packages/django/conf/locale/fr/LC_MESSAGES/django.mo",
    "site-packages/django/conf/locale/sr_Latn/LC_MESSAGES/django.mo",
    "site-packages/django-6.0.dist-info/METADATA",
    "site-packages/django-6.0.dist-info/entry_points.txt",
    "site-packages/django-6.0.dist-info/top_level.txt",
    "site-packages/pkg/__init__.py",
    "site-packages/pkg/__pycache__/__init__.cpython-312.pyc",
    # The project's own (a static file may be anything), and a catalogue outside locale/.
    "site-packages/staticfiles/listing.c",
    "site-packages/staticfiles/types.pyi",
    "site-packages/pkg/translations/fr/LC_MESSAGES/django.mo",
    "site-packages/pkg/locale/fr/LC_MESSAGES/pkg.mo",
]


def test_compiled_catalogues_of_every_language_but_language_codes_stay_packed() -> None:
    assert unpacked_language() == "en"  # the tests' settings: "en-us"
    assert left_packed(NAMES, dependencies=DEPENDENCIES, language="en") == sorted(
        [
            *NOT_CATALOGUES,
            "site-packages/django/conf/locale/de/LC_MESSAGES/django.mo",
            "site-packages/django/conf/locale/pt_BR/LC_MESSAGES/djangojs.mo",
            "site-packages/django/conf/locale/fr/LC_MESSAGES/django.mo",
            "site-packages/django/conf/locale/sr_Latn/LC_MESSAGES/django.mo",
        ]
    )


@override_settings(LANGUAGE_CODE="sr-latn")
def test_language_codes_catalogues_are_unpacked_with_the_rest() -> None:
    assert unpacked_language() == "sr"
    packed = left_packed(NAMES, dependencies=DEPENDENCIES, language=unpacked_language())
    # LANGUAGE_CODE's, whatever its spelling; not in a locale folder; another domain.
    assert [name for name in NAMES if name.endswith(".mo") and name not in packed] == [
        "site-packages/django/conf/locale/sr_Latn/LC_MESSAGES/django.mo",
        "site-packages/pkg/translations/fr/LC_MESSAGES/django.mo",
        "site-packages/pkg/locale/fr/LC_MESSAGES/pkg.mo",  # read by gettext directly
    ]


@pytest.mark.parametrize(
    ("code", "language"),
    [("pt-br", "pt"), ("pt_BR", "pt"), ("pt_BR.UTF-8", "pt"), ("sr@latin", "sr"),
     ("zh-hans", "zh"), ("zh_Hant", "zh"), ("DE", "de"), ("ast", "ast")],
)  # fmt: skip
def test_every_spelling_of_a_language_is_one_language(code: str, language: str) -> None:
    assert language_of(code) == language


def deployed(built: Built, tmp_path: Path) -> Built:
    (tmp_path / "srv").mkdir()
    shutil.copy2(built.archive, tmp_path / "srv" / "site.pyz")
    for name in ("cache", "state"):
        (tmp_path / name).mkdir()
    return Built(tmp_path / "srv" / "site.pyz", built.build_output, tmp_path)


def prepared(site: Built, *args: str, **env: str) -> Path:
    result = run_archive(site, "prepare", *args, env=site_env(site, **env))
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.removeprefix("Ready: ").strip())


# What the metadata of a distribution says when a site asks for it.
ASK = (
    "import importlib.metadata as m; files = m.files('django'); "
    "print(m.version('django'), len(m.entry_points(group='console_scripts')) > 0, "
    "files and sum(1 for f in files if f.name == 'RECORD'))"
)


@pytest.mark.e2e
def test_what_stays_packed_is_absent_and_unpacked_when_asked_for(
    built: Built, tmp_path: Path
) -> None:
    site = deployed(built, tmp_path)
    extraction = prepared(site)
    packed = packed_in(site.archive)
    # "Django-4.2.x.dist-info" before wheels' names were normalized, "django-5.2..." now.
    dist_info = next(
        path
        for path in (extraction / "site-packages").iterdir()
        if path.name.lower().startswith("django-") and path.name.endswith(".dist-info")
    )
    record = dist_info / "RECORD"
    assert str(record.relative_to(extraction)) in packed
    # By default: every kind the build leaves packed is absent, what is read is there.
    kinds = {"django.po", "RECORD", "WHEEL", "INSTALLER", "LICENSE", "py.typed", "__init__.pyi"}
    assert kinds <= {Path(name).name for name in packed}
    assert not [name for name in packed if (extraction / name).exists()]
    assert (dist_info / "METADATA").is_file()
    assert (dist_info / "entry_points.txt").is_file()
    english = extraction / "site-packages/django/conf/locale/en/LC_MESSAGES/django.mo"
    assert english.is_file()  # LANGUAGE_CODE's: unpacked with the rest
    assert str((extraction / CATALOGUE.format("de")).relative_to(extraction)) in packed
    assert json.loads((extraction / MARKER).read_text())["packed"] == len(packed)
    asked = run_archive(site, "shell", "-c", ASK)
    assert asked.returncode == 0, asked.stderr
    version, scripts, files = asked.stdout.split()[-3:]
    assert (scripts, files) == ("True", "None")  # no RECORD: no files()
    # Asked for everything: the same extraction is made again, whole.
    everything = site_env(site, DJANGO_ZIPAPP_UNPACK="all")
    asked = run_archive(site, "shell", "-c", ASK, env=everything)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.split()[-3:] == [version, "True", "1"]
    assert not [name for name in packed if not (extraction / name).is_file()]
    marker = (extraction / MARKER).read_text()
    assert json.loads(marker)["packed"] == 0
    # A start that does not ask keeps it as it is.
    assert run_archive(site, "check").returncode == 0
    assert (extraction / MARKER).read_text() == marker
    assert record.is_file()


@pytest.mark.e2e
def test_prepare_all_unpacks_what_stays_packed(built: Built, tmp_path: Path) -> None:
    site = deployed(built, tmp_path)
    packed = packed_in(site.archive)
    extraction = prepared(site, "--all")
    assert not [name for name in packed if not (extraction / name).is_file()]
    assert json.loads((extraction / MARKER).read_text())["packed"] == 0
    # prepare --check compares every file, those unpacked by --all as well.
    result = run_archive(site, "prepare", "--check")
    assert result.returncode == 0, result.stderr
    assert "all as built" in result.stdout


@pytest.mark.e2e
def test_a_start_that_unpacks_everything_shares_the_store_with_the_others(
    built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    site = deployed(built, tmp_path)
    first = prepared(site, "--all")
    store = tmp_path / "cache" / ".shared"
    shared = os.readlink(first / "site-packages" / "django")
    # The next build, same dependencies, started as usual: it links Django's layer as
    # --all unpacked it, whose files it checks, packed ones included, instead of
    # unpacking a layer of its own.
    shutil.copy2(rebuilt.archive, site.archive)
    second = prepared(site)
    assert second != first
    assert os.readlink(second / "site-packages" / "django") == shared
    assert [entry.name for entry in store.iterdir() if (entry / "django").is_dir()] == [
        Path(shared).parent.name
    ]
    marker = json.loads((second / MARKER).read_text())
    assert marker["packed"] > 0
    # What that build left packed is as built, not damaged: --check --all says so.
    result = run_archive(site, "prepare", "--check", "--all")
    assert result.returncode == 0, result.stderr
    assert "not as built" not in result.stdout
    assert (
        f": all as built. The {marker['packed']} files that the build left packed were "
        "not unpacked there: unpacking them now.\n"
    ) in result.stdout
    assert json.loads((second / MARKER).read_text())["packed"] == 0
    assert os.readlink(second / "site-packages" / "django") == shared


# What the site says for "Yes" in German and in French, whether LocaleMiddleware would
# find French, and what the admin's JavaScript catalogue says for "Today" in German.
SAY_YES = (
    "from django.utils import translation; "
    "from django.utils.translation.trans_real import DjangoTranslation; "
    "print(*(translation.override(code)(translation.gettext)('Yes') for code in 'de fr'.split()), "
    "translation.check_for_language('fr'), "
    "DjangoTranslation('de', domain='djangojs').gettext('Today'))"
)
CATALOGUE = "site-packages/django/conf/locale/{}/LC_MESSAGES/django.mo"
ADMIN_JS = "site-packages/django/contrib/admin/locale/{}/LC_MESSAGES/djangojs.mo"


@pytest.mark.e2e
def test_catalogues_of_other_languages_are_unpacked_when_first_asked_for(
    built: Built, tmp_path: Path
) -> None:
    site = deployed(built, tmp_path)
    extraction = prepared(site)
    on_demand = extraction / "on-demand"
    for name in (CATALOGUE.format("de"), CATALOGUE.format("fr"), ADMIN_JS.format("de")):
        assert name in packed_in(site.archive)
        assert not (extraction / name).exists()
    assert not on_demand.exists()  # nothing asked for yet
    said = run_archive(site, "shell", "-c", SAY_YES)
    assert said.stdout.split()[-4:] == ["Ja", "Oui", "True", "Heute"], said.stderr
    # Every catalogue of the languages asked for, and only those, once, read-only.
    unpacked = sorted(str(path.relative_to(on_demand)) for path in on_demand.rglob("*.mo"))
    assert CATALOGUE.format("de") in unpacked
    assert ADMIN_JS.format("de") in unpacked
    assert {Path(name).parts[-3] for name in unpacked} == {"de", "fr"}
    assert not [name for name in unpacked if (on_demand / name).stat().st_mode & 0o222]
    assert not (extraction / CATALOGUE.format("de")).exists()
    # Checked with the rest; one that is not as built is found, and the build unpacked
    # again (without it: it comes again when asked for).
    checked = run_archive(site, "prepare", "--check")
    assert "all as built" in checked.stdout, checked.stdout + checked.stderr
    damaged = on_demand / CATALOGUE.format("de")
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes()[:-1])
    checked = run_archive(site, "prepare", "--check")
    assert f"(on-demand/{CATALOGUE.format('de')}); unpacked it again" in checked.stdout
    assert not on_demand.exists()
    said = run_archive(site, "shell", "-c", SAY_YES)
    assert said.stdout.split()[-4:] == ["Ja", "Oui", "True", "Heute"], said.stderr


@pytest.mark.e2e
def test_a_process_unpacks_its_own_builds_catalogues_after_the_next_is_renamed_into_place(
    built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    """A deploy renames the next build over the archive while the old process serves: a
    language first asked for then is still translated, from the build that is running."""
    site = deployed(built, tmp_path)
    extraction = prepared(site)
    shutil.copy2(rebuilt.archive, tmp_path / "next.pyz")
    deploy = f"import os; os.replace({str(tmp_path / 'next.pyz')!r}, {str(site.archive)!r}); "
    said = run_archive(site, "shell", "-c", deploy + SAY_YES, env=site_env(site))
    assert said.stdout.split()[-4:] == ["Ja", "Oui", "True", "Heute"], said.stderr
    assert said.stderr == ""
    assert (extraction / "on-demand" / CATALOGUE.format("de")).is_file()


@pytest.mark.e2e
def test_catalogues_come_from_a_folder_of_the_processs_own_where_the_build_is_not_writable(
    built: Built, tmp_path: Path
) -> None:
    site = deployed(built, tmp_path)
    extraction = prepared(site)
    (extraction / "on-demand").write_text("")  # in the way: no folder can be made there
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    said = run_archive(site, "shell", "-c", SAY_YES, env=site_env(site, TMPDIR=str(temporary)))
    assert said.stdout.split()[-4:] == ["Ja", "Oui", "True", "Heute"], said.stderr
    assert said.stderr == ""
    assert list(temporary.iterdir()) == []  # removed when the process ended
