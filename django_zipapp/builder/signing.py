"""Signatures in minisign's format, made and checked with py-minisign (the ``sign`` extra).

The archive is signed as `minisign -S` signs a file (prehashed Ed25519, BLAKE2b), so that
the standard `minisign -Vm site.pyz -P KEY` verifies it; the Ed25519 part is the
cryptography package's, through py-minisign, co-written by minisign's author.
"""

from __future__ import annotations

import base64
import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import BuildError
from .replacing import replacing

if TYPE_CHECKING:
    import minisign

PASSWORD_VARIABLE = "ZIPAPP_SIGN_PASSWORD"
SIGNATURE_SUFFIX = ".minisig"
INSTALL_HINT = "Install the signing extra: pip install 'django-zipapp[sign]'."


class SignatureError(Exception):
    """A signature that is missing, damaged or does not match; worded for the operator."""


@dataclass(frozen=True)
class SigningKey:
    secret: minisign.SecretKey
    key_id: str


def load_signing_key(path: Path, *, prompt: bool) -> SigningKey:
    """The decrypted secret key, read before anything is built: a typo fails at once."""
    library = _library()
    try:
        secret = library.SecretKey.from_file(path)
    except OSError as exc:
        raise BuildError(f"The secret key {str(path)!r} (--sign) cannot be read: {exc}") from None
    except library.Error:
        raise BuildError(
            f"{str(path)!r} (--sign) is not a minisign secret key. Give the file that "
            "`minisign -G` wrote (minisign.key), not the public key."
        ) from None
    if secret.is_encrypted():
        try:
            secret.decrypt(_password(path, prompt))
        except library.Error:
            raise BuildError(
                f"The password for the secret key {str(path)!r} is wrong ({PASSWORD_VARIABLE} "
                "or the prompt). Give the one `minisign -G` was given."
            ) from None
    return SigningKey(secret, key_id(secret.get_public_key()))


def sign_file(archive: Path, key: SigningKey) -> Path:
    """Write archive.minisig, as `minisign -S -m archive` does; its path."""
    signature = archive.with_name(archive.name + SIGNATURE_SUFFIX)
    # The file's name only, no time: the comment is signed too, and builds stay repeatable.
    comment = f"file:{archive.name}\thashed"
    with archive.open("rb") as data:
        signed = key.secret.sign(data, prehash=True, trusted_comment=comment)
    with replacing(signature, "The signature") as partial:
        partial.write_bytes(bytes(signed) + b"\n")
    return signature


def verify_signature(archive: Path, public_key: str, signature: Path | None = None) -> str:
    """Check archive against its .minisig with this public key (base64, or a .pub file).

    Returns the signature's trusted comment; raises SignatureError saying what is wrong.
    """
    library = _library()
    key = _public_key(library, public_key)
    signature = signature or archive.with_name(archive.name + SIGNATURE_SUFFIX)
    try:
        signed = library.Signature.from_file(signature)
    except FileNotFoundError:
        raise SignatureError(
            f"{archive.name} has no signature: {str(signature)!r} is missing."
        ) from None
    except (OSError, library.Error) as exc:
        raise SignatureError(f"The signature {str(signature)!r} cannot be read: {exc}.") from None
    try:
        with archive.open("rb") as data:
            key.verify(data, signed)
    except OSError as exc:
        raise SignatureError(f"{str(archive)!r} cannot be read: {exc}.") from None
    except library.VerifyError:
        raise SignatureError(_mismatch(archive, signed, key)) from None
    return str(signed.trusted_comment)


def key_id(public_key: minisign.PublicKey) -> str:
    """The key id as minisign prints it (a little-endian number in hexadecimal)."""
    return _key_id(base64.b64decode(public_key.to_base64()))


def _key_id(raw: bytes) -> str:
    # After the algorithm (2 bytes), 8 bytes little-endian, printed as minisign does with
    # PRIX64: upper case, without leading zeros (one key in sixteen has one).
    return format(int.from_bytes(raw[2:10], "little"), "X")


def _mismatch(archive: Path, signed: minisign.Signature, key: minisign.PublicKey) -> str:
    # minisign's text form: the algorithm (2 bytes), then the key id (8), then the signature.
    line = bytes(signed).split(b"\n")[1]
    signer = _key_id(base64.b64decode(line))
    expected = key_id(key)
    if signer != expected:
        return (
            f"{archive.name} was signed by key {signer}, not by the public key given "
            f"({expected}): it was not signed by the key this host trusts."
        )
    return (
        f"{archive.name} does not match its signature by key {expected}: the file was "
        "changed after it was signed (damaged or replaced on the way)."
    )


def _public_key(library: ModuleType, value: str) -> minisign.PublicKey:
    text = value.strip()
    try:
        if Path(text).is_file():
            return library.PublicKey.from_file(text)
        return library.PublicKey.from_base64(text)
    except (OSError, library.Error):
        raise SignatureError(
            f"{value!r} is not a minisign public key: give the key itself (the line "
            "starting with 'RW' in minisign.pub) or the path of minisign.pub."
        ) from None


def _password(path: Path, prompt: bool) -> str:
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is not None:
        return password
    if prompt and sys.stdin.isatty():
        return getpass.getpass(f"Password for the secret key {path.name}: ")
    raise BuildError(
        f"The secret key {str(path)!r} is encrypted: set {PASSWORD_VARIABLE} to its "
        "password, or run buildpyz in a terminal to be asked for it."
    )


def _library() -> ModuleType:
    # Imported when needed: signing is an extra, and the build runs without it.
    try:
        import minisign
    except ModuleNotFoundError:
        raise BuildError(
            f"Signing needs py-minisign, which is not installed. {INSTALL_HINT}"
        ) from None
    return minisign  # type: ignore[no-any-return]
