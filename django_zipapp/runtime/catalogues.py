"""Translation catalogues left in the archive, unpacked the first time the site asks for one.

The build leaves Django's compiled catalogues (``django.mo``, ``djangojs.mo``) of every
language but LANGUAGE_CODE's in the archive (see builder/packed.py): thousands of files
and folders that a first start would otherwise create, most of them for languages no
visitor asks for. Django looks for every catalogue through ``gettext.find()``: when it
builds a language's translations (DjangoTranslation, for pages and for JavaScriptCatalog)
and when LocaleMiddleware asks whether a language has any (check_for_language). A start
wraps that function. When a catalogue it is asked for is not in the extraction, and the
build left that language's catalogues packed, they are unpacked (all of the language's,
every app's, at once) into the extraction's ON_DEMAND folder, and the wrapper answers
with their paths there. Later processes of the same build find them there. Where that
folder cannot be written (another user's extraction, a read-only SHIV_ROOT), they are
unpacked into a temporary folder of the process's own, removed when it exits.

Nothing else of gettext is changed, and only catalogues of those two domains inside
the extraction's site-packages are looked for: any other call is the original's.
"""

from __future__ import annotations

import gettext
import logging
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..booted import boot

DOMAINS = frozenset({"django", "djangojs"})
CATALOGUES = frozenset(f"{domain}.mo" for domain in DOMAINS)

logger = logging.getLogger("django_zipapp")


def language_of(folder: str) -> str:
    """The language a catalogue's folder or a locale name is for: ``pt`` for ``pt_BR``.

    gettext falls back from ``pt_BR.UTF-8`` to ``pt_BR`` and ``pt``, and Django spells
    ``pt-br`` and ``sr-latn``: every folder of one language is unpacked together.
    """
    for separator in "-_.@":
        folder = folder.partition(separator)[0]
    return folder.lower()


def catalogue_language(name: str) -> str | None:
    """The language of a compiled catalogue of DOMAINS, by its path; None for any other file."""
    parts = name.split("/")
    if len(parts) < 4 or parts[-2] != "LC_MESSAGES" or parts[-1] not in CATALOGUES:
        return None
    return language_of(parts[-3])


Find = Callable[..., Any]


class OnDemand:
    """The wrapper of gettext.find for one extraction (see the module's docstring)."""

    def __init__(self, archive: Path, extraction: Path, original: Find) -> None:
        self.archive = archive
        # Mapped now: a deploy may rename the next build over the archive's path while
        # this process still runs, and the next one's catalogues are not this build's.
        self.data = _mapped(archive)
        self.extraction = extraction
        self.original = original
        site_packages = extraction / boot.SITE_PACKAGES
        # Also the real path: a cache directory reached through a link (systemd's
        # DynamicUser=yes makes /var/cache/NAME a link to private/NAME) is where
        # LOCALE_PATHS from a BASE_DIR that Path(__file__).resolve() made lie.
        self.prefixes = tuple(
            dict.fromkeys(f"{folder}{os.sep}" for folder in (site_packages, _real(site_packages)))
        )
        self.folders = [extraction / boot.ON_DEMAND]  # a temporary one after it, if needed
        self.lock = threading.Lock()
        self.done: set[str] = set()
        self._packed: dict[str, list[str]] | None = None

    def find(
        self,
        domain: str,
        localedir: str | os.PathLike[str] | None = None,
        languages: Sequence[str] | None = None,
        all: bool = False,  # gettext.find's own name
    ) -> Any:
        found = self.original(domain, localedir, languages, all)
        if found or domain not in DOMAINS or localedir is None:
            return found
        path = os.path.normpath(os.fspath(localedir))
        prefix = next((p for p in self.prefixes if path.startswith(p)), None)
        if prefix is None:
            return found
        if languages is not None and len(languages) > 1:
            # gettext's order is the languages' order: ask for them one by one.
            each = [self.find(domain, localedir, [code], all) for code in languages]
            return [hit for hits in each for hit in hits] if all else next(filter(None, each), None)
        if languages is not None:
            self._unpack(language_of(languages[0]))
        relative = os.path.join(boot.SITE_PACKAGES, path[len(prefix) :])
        for folder in list(self.folders):
            found = self.original(domain, str(folder / relative), languages, all)
            if found:
                return found
        return found

    def _unpack(self, language: str) -> None:
        if language in self.done:
            return
        with self.lock:
            if language in self.done:
                return
            names = self.packed().get(language, [])
            missing = [name for name in names if not any((f / name).exists() for f in self.folders)]
            if missing:
                self._unpack_names(missing)
            self.done.add(language)

    def _unpack_names(self, names: list[str]) -> None:
        try:
            if isinstance(self.data, OSError):
                raise self.data
            unpack = partial(boot.unpack_on_demand, self.data, self.archive.name, self.extraction)
            try:
                unpack(self.folders[0], names)
            except OSError:  # not this user's to write, or read-only
                import atexit
                import shutil
                import tempfile

                folder = Path(tempfile.mkdtemp(prefix="django-zipapp-catalogues-"))
                atexit.register(shutil.rmtree, folder, ignore_errors=True)
                self.folders.append(folder)
                unpack(folder, names)
        except (OSError, boot.BootError) as exc:
            logger.warning(
                "Translations left packed in %s could not be unpacked (%s): %d catalogues "
                "stay untranslated in this process.",
                self.archive.name,
                getattr(exc, "strerror", None) or exc,
                len(names),
            )

    def packed(self) -> dict[str, list[str]]:
        """The catalogues the extraction left packed, by language; read once, when first asked."""
        if self._packed is None:
            by_language: dict[str, list[str]] = {}
            for name in boot.left_packed_in(self.extraction):
                language = catalogue_language(name)
                if language is not None:
                    by_language.setdefault(language, []).append(name)
            self._packed = by_language
        return self._packed


def _real(folder: Path) -> Path:
    try:
        return folder.resolve()
    except OSError:  # a loop of links: the path as given is all there is
        return folder


def _mapped(archive: Path) -> mmap.mmap | OSError:
    try:
        return boot.map_archive(archive)
    except OSError as exc:  # said when a catalogue is asked for, if one ever is
        return exc


def serve_packed_catalogues(archive: Path, site_packages: Path) -> None:
    """Make gettext find the catalogues this extraction left packed (once a process)."""
    extraction = site_packages.parent
    current = gettext.find
    if isinstance(getattr(current, "__self__", None), OnDemand):
        return
    if not (extraction / boot.PACKED_NAME).is_file():
        return  # everything unpacked: nothing to ask for
    gettext.find = OnDemand(archive, extraction, current).find  # type: ignore[assignment]
