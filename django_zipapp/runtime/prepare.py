"""`./site.pyz prepare`: unpack this build now, while the previous one still serves.

The boot package has unpacked the archive (sharing every unchanged file with the older
builds' extractions) before this runs; what is left is to say where. A deploy runs it
after putting the new archive in place and before restarting or reloading the service,
so that the switch starts warm. It loads no configuration and prunes nothing. With
``--check`` the boot package has also read every file of the extraction and unpacked
it again if one was not as built (see boot/verify.py), and said so.
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
    parser.parse_args(argv)  # --check is done by then: see boot/entry.py
    print(f"Ready: {archive.site_packages.parent}")
    return 0
