"""`./site.pyz prepare`: unpack this build now, while the previous one still serves.

The boot package has unpacked the archive (sharing every unchanged file with the older
builds' extractions) before this runs; what is left is to say where. A deploy runs it
after putting the new archive in place and before restarting or reloading the service,
so that the switch starts warm. It loads no configuration and prunes nothing. With
``--check`` the boot package has also read every file of the extraction and unpacked
it again if one was not as built (see boot/verify.py), and said so. With ``--all`` it
has unpacked what the build left in the archive too (see builder/packed.py).
"""

from __future__ import annotations

import argparse

from .archive import Archive


def run(archive: Archive, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{archive.prog} prepare",
        description="Unpack this archive into its cache directory now, so that the next "
        "start of the service finds it ready.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="read every file of the extraction and compare it with the archive, and "
        "unpack the archive again if one differs (a start compares only a few folders)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="unpack also the files the build left in the archive because a running site "
        "never opens them (DJANGO_ZIPAPP_UNPACK=all does it for any start)",
    )
    parser.parse_args(argv)  # --check and --all are done by then: see boot/entry.py
    print(f"Ready: {archive.site_packages.parent}")
    return 0
