"""minisign keys for the tests, made with py-minisign as `minisign -G` makes them."""

from __future__ import annotations

import base64
from pathlib import Path

import minisign

SIGNING_PASSWORD = "correct horse battery staple"


def make_signing_key(folder: Path, password: str | None = SIGNING_PASSWORD) -> Path:
    """minisign.key (encrypted with password, unless None) and minisign.pub in folder."""
    pair = minisign.KeyPair.generate()
    secret = pair.secret_key
    if password is not None:
        # The lowest cost minisign accepts: the default takes a second and 1 GiB to open.
        secret.encrypt(password, opslimit=32768, memlimit=16 * 1024 * 1024)
    (folder / "minisign.key").write_bytes(bytes(secret) + b"\n")
    (folder / "minisign.pub").write_bytes(bytes(pair.public_key) + b"\n")
    return folder / "minisign.key"


def public_key(key: Path) -> str:
    """The public key's line, as `minisign -P` takes it."""
    return key.with_name("minisign.pub").read_text().splitlines()[1]


def key_id(public: str) -> str:
    """A public key's id as minisign prints it: after the algorithm, 8 bytes little-endian,
    in upper-case hexadecimal without leading zeros (minisign's PRIX64)."""
    return format(int.from_bytes(base64.b64decode(public)[2:10], "little"), "X")
