"""What an extraction leaves in the archive: the files a running site never opens.

A first start creates a file for every member it unpacks, and on a disk that is slow to
create files (ext4 without a journal, right after many were removed) that is most of its
time. Traced with ``strace -f -e trace=openat``, a start (``serve`` answering its pages,
``check --deploy``) of a Wagtail site opened about 1,500 of its 14,000 files; of those it
never opens, these kinds are left packed, each because nothing but a developer's tool
reads it:

- translation catalogues' sources (``.po`` in ``LC_MESSAGES``): gettext reads the
  compiled ``.mo`` beside each;
- Django's compiled catalogues (``django.mo`` and ``djangojs.mo`` in
  ``locale/LANG/LC_MESSAGES``) of every language but LANGUAGE_CODE's: a start unpacks
  a language's the first time the site asks for it (see runtime/catalogues.py), so that
  a site that may select any of a hundred languages creates the files of those its
  visitors ask for only;
- distribution metadata that ``importlib.metadata`` does not read to answer
  ``version()``, ``metadata()``, ``requires()`` and ``entry_points()``: everything in a
  ``.dist-info`` folder but METADATA, entry_points.txt and top_level.txt (RECORD,
  INSTALLER, WHEEL, REQUESTED, licence files, SBOMs);
- type stubs (``.pyi``, ``py.typed``), read by type checkers only;
- C and Cython sources and headers, read by compilers only.

Dependencies' test suites are not packed at all (see dependencies.tidy_installed). The
names left packed are recorded in the archive (PACKED_NAME); a start that is asked to
(UNPACK_VARIABLE, ``prepare --all``) unpacks them too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.conf import settings

from ..boot.names import SITE_PACKAGES
from ..runtime.catalogues import CATALOGUES, language_of

# What importlib.metadata reads to answer version(), metadata(), requires(),
# entry_points() and packages_distributions() (when top_level.txt is there).
METADATA_READ = frozenset({"METADATA", "entry_points.txt", "top_level.txt"})
STUBS = (".pyi",)
STUB_MARKERS = frozenset({"py.typed"})
C_SOURCES = (".c", ".h", ".cc", ".cpp", ".hpp", ".pyx", ".pxd", ".pxi")


def unpacked_language() -> str:
    """The language whose catalogues a start unpacks: LANGUAGE_CODE's (``pt`` for ``pt-br``).

    Every request that no other language was chosen for is answered in it: its
    catalogues are unpacked with the rest.
    """
    return language_of(str(settings.LANGUAGE_CODE))


def left_packed(names: Iterable[str], *, dependencies: Collection[str], language: str) -> list[str]:
    """The names (as an extraction holds them) that stay in the archive, sorted.

    ``dependencies``: the top-level entries of site-packages that dependencies installed;
    stubs and C sources are left packed from those only (a project may serve a ``.c``
    file as a static file). ``language``: see unpacked_language().
    """
    return sorted(name for name in names if _stays_packed(name, dependencies, language))


def _stays_packed(name: str, dependencies: Collection[str], language: str) -> bool:
    if not name.startswith(f"{SITE_PACKAGES}/"):
        return False
    parts = name.split("/")[1:]
    return (
        _catalogue(parts, language)
        or (len(parts) > 1 and parts[0].endswith(".dist-info") and parts[1] not in METADATA_READ)
        or (
            parts[0] in dependencies
            and (
                parts[-1].endswith(STUBS)
                or parts[-1] in STUB_MARKERS
                or parts[-1].endswith(C_SOURCES)
            )
        )
    )


def _catalogue(parts: list[str], language: str) -> bool:
    """A catalogue's source, or a compiled catalogue of Django's in another language."""
    if len(parts) < 4 or parts[-2] != "LC_MESSAGES":
        return False
    return parts[-1].endswith(".po") or (
        parts[-1] in CATALOGUES and parts[-4] == "locale" and language_of(parts[-3]) != language
    )


def packed_text(names: list[str]) -> bytes:
    return "".join(f"{name}\n" for name in names).encode()
