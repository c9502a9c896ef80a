"""`manage.py verify-signature site.pyz -P KEY`: minisign's check, without minisign installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_zipapp.runtime.no_builder import BuilderNotInArchive


class Command(BaseCommand):
    help = (
        "Check an archive's minisign signature (site.pyz.minisig) against a public key, as "
        "`minisign -Vm site.pyz -P KEY` does."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", metavar="ARCHIVE", help="the archive to check")
        key = parser.add_mutually_exclusive_group(required=True)
        key.add_argument("-P", "--public-key", metavar="KEY", help="the public key itself (RW...)")
        key.add_argument("-p", "--public-key-file", metavar="FILE", help="minisign.pub")
        parser.add_argument(
            "-x",
            "--signature",
            metavar="FILE",
            help="the signature file (default: ARCHIVE.minisig)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The builder's module: a running archive lists this command too, without the extra.
        try:
            from django_zipapp.builder.errors import BuildError
            from django_zipapp.builder.signing import SignatureError, verify_signature
        except BuilderNotInArchive:
            raise CommandError(
                "verify-signature does not run inside an archive, which carries none of the "
                "builder's modules. Verify a signature where django-zipapp is installed with "
                "its sign extra (pip install 'django-zipapp[sign]'), or with `minisign -V`."
            ) from None
        except ModuleNotFoundError as exc:
            missing = f"verify-signature cannot run here: {exc.name!r} is missing."
            raise CommandError(missing) from None
        archive = Path(options["archive"])
        key = options["public_key"] or options["public_key_file"]
        signature = options["signature"]
        try:
            comment = verify_signature(archive, key, None if signature is None else Path(signature))
        except (SignatureError, BuildError) as exc:
            raise CommandError(f"Signature refused: {exc}") from None
        self.stdout.write(f"Signature and comment signature verified: {archive.name}")
        self.stdout.write(f"Trusted comment: {comment}")
