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
  ``locale/LANG/LC_MESSAGES``) of languages the site cannot select, when the settings
  name LANGUAGES (Django's default is every language: then all stay), and all but
  LANGUAGE_CODE's when USE_I18N is off (Django's JavaScript catalogue view still reads
  that one);
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

from django.conf import global_settings, settings

from ..boot.names import SITE_PACKAGES

# What importlib.metadata reads to answer version(), metadata(), requires(),
# entry_points() and packages_distributions() (when top_level.txt is there).
METADATA_READ = frozenset({"METADATA", "entry_points.txt", "top_level.txt"})
STUBS = (".pyi",)
STUB_MARKERS = frozenset({"py.typed"})
C_SOURCES = (".c", ".h", ".cc", ".cpp", ".hpp", ".pyx", ".pxd", ".pxi")
# The gettext domains of Django's translation machinery; another library's own domain
# may be read through gettext directly, whatever the settings say.
DJANGO_CATALOGUES = frozenset({"django.mo", "djangojs.mo"})


def selectable_languages() -> frozenset[str] | None:
    """The languages (``de``, ``pt``) the site may select, or None for every one.

    A site that leaves LANGUAGES at Django's default may select any language Django
    knows, and then every catalogue stays unpacked. Without USE_I18N, Django's
    translation functions read no catalogue, but JavaScriptCatalog still reads
    LANGUAGE_CODE's (get_language() answers LANGUAGE_CODE then): that one only.
    """
    if not settings.USE_I18N:
        return frozenset({_language(str(settings.LANGUAGE_CODE))})
    languages = list(getattr(settings, "LANGUAGES", global_settings.LANGUAGES))
    if languages == list(global_settings.LANGUAGES):
        return None
    codes = [code for code, *_ in languages] + [str(settings.LANGUAGE_CODE)]
    return frozenset(_language(code) for code in codes)


def _language(code: str) -> str:
    # "pt-br", "pt_BR", "sr@latin", "zh-hans": the language alone, which is what a
    # catalogue's folder must start with to be chosen (gettext falls back from pt_BR to pt).
    return code.replace("-", "_").split("_")[0].split("@")[0].lower()


def left_packed(
    names: Iterable[str], *, dependencies: Collection[str], languages: Collection[str] | None
) -> list[str]:
    """The names (as an extraction holds them) that stay in the archive, sorted.

    ``dependencies``: the top-level entries of site-packages that dependencies installed;
    stubs and C sources are left packed from those only (a project may serve a ``.c``
    file as a static file). ``languages``: see selectable_languages().
    """
    return sorted(name for name in names if _stays_packed(name, dependencies, languages))


def _stays_packed(
    name: str, dependencies: Collection[str], languages: Collection[str] | None
) -> bool:
    if not name.startswith(f"{SITE_PACKAGES}/"):
        return False
    parts = name.split("/")[1:]
    return (
        _catalogue(parts, languages)
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


def _catalogue(parts: list[str], languages: Collection[str] | None) -> bool:
    """A catalogue's source, or a compiled catalogue of a language the site cannot select."""
    if len(parts) < 4 or parts[-2] != "LC_MESSAGES":
        return False
    if parts[-1].endswith(".po"):
        return True
    return (
        languages is not None
        and parts[-1] in DJANGO_CATALOGUES
        and parts[-4] == "locale"
        and _language(parts[-3]) not in languages
    )


def packed_text(names: list[str]) -> bytes:
    return "".join(f"{name}\n" for name in names).encode()
