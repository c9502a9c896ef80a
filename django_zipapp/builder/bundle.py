"""One file with its own interpreter: a sh launcher, the interpreter's tar.gz, the archive.

The kernel runs the file with /bin/sh. The launcher checks the host (machine, glibc),
unpacks the interpreter once into the archive's cache directory, beside the archive's
own extraction, and execs it on the file itself: Python reads the zip at the end past
any prefix, so the archive inside is byte for byte the one built without a bundle.
It needs sh, coreutils, tar and gzip: what every Linux base system has.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..runtime.bundle import HEADER_TAG, INTERPRETER_SUFFIX
from .interpreter import Interpreter
from .replacing import replacing

# {placeholders} are filled by str.format; "$" and shell quoting are the launcher's own.
LAUNCHER = """\
#!/bin/sh
# A django-zipapp archive with its own CPython: this POSIX sh launcher, the interpreter
# (a tar.gz), then the archive (a zip). Run it by its path: ./{name} serve
{tag} {record}
# What it changes to start its interpreter is kept, "" for unset, "=VALUE" for a value:
# the archive puts it back as it starts, for the programs the site runs (boot/environment.py).
DJANGO_ZIPAPP_OUTER_PATH=${{PATH+=$PATH}}
DJANGO_ZIPAPP_OUTER_PYTHONHOME=${{PYTHONHOME+=$PYTHONHOME}}
export DJANGO_ZIPAPP_OUTER_PATH DJANGO_ZIPAPP_OUTER_PYTHONHOME
{keep_shell_names}PATH=${{PATH:-/usr/bin:/bin}}
fail() {{ printf 'error: %s\\n' "$*" >&2; exit 1; }}
n=${{0##*/}}
z=$(readlink -f -- "$0") && [ -f "$z" ] || fail "cannot find $0; run it by its path."
s=$(wc -c <"$z") || exit 1
[ "$s" = {total} ] || fail "$n is damaged: it has $s bytes, not {total}. Download it again."
m=$(uname -m)
[ "$m" = {machine} ] || fail "$n bundles CPython for Linux {machine} and cannot run on $m; \
rebuild it for $m, or build a plain archive."
g=$(getconf GNU_LIBC_VERSION 2>/dev/null) || g=
case $g in
"glibc "[0-9]*) g=${{g#glibc }} ;;
*) fail "$n needs glibc {glibc} or newer, and this host has none (musl?); \
build a plain archive for it." ;;
esac
a=${{g%%.*}} b=${{g#*.}}; b=${{b%%[!0-9]*}}
if [ "$a" -lt {glibc_major} ] ||
   {{ [ "$a" -eq {glibc_major} ] && [ "${{b:-0}}" -lt {glibc_minor} ]; }}; then
  fail "$n needs glibc {glibc} or newer, but this host has glibc $g; \
rebuild it on an older system or with a python-build-standalone interpreter."
fi
if [ -n "${{SHIV_ROOT-}}" ]; then r=$SHIV_ROOT v=SHIV_ROOT
elif [ -n "${{CACHE_DIRECTORY-}}" ]; then r=${{CACHE_DIRECTORY%%:*}} v=CACHE_DIRECTORY
else
  v=SHIV_ROOT
  case ${{XDG_CACHE_HOME-}} in
  /*) r=$XDG_CACHE_HOME/django-zipapp ;;
  *) case ${{HOME-}} in
     /?*) r=$HOME/.cache/django-zipapp ;;
     *) fail "$n needs a writable directory to unpack itself into and found none: \
SHIV_ROOT and CACHE_DIRECTORY are not set, and neither XDG_CACHE_HOME nor HOME names a \
usable directory. Set SHIV_ROOT to a writable directory, or run it under systemd with \
CacheDirectory= set." ;;
     esac ;;
  esac
fi
case $r in /*) ;; *) fail "$v must be an absolute path, but it is '$r'. Set it to the \
absolute path of a writable directory and start $n again." ;; esac
mkdir -p -- "$r" 2>/dev/null && [ -w "$r" ] || fail "$n cannot unpack itself into \
$v='$r': it is not a writable directory. Point $v at a directory this user can write to."
d=$r/${{z##*/}}_{build_id}{suffix}
if [ ! -f "$d/.django-zipapp-complete" ] || [ ! -x "$d/python/bin/python3" ]; then
  t=$(mktemp -d "$r/.${{z##*/}}_{build_id}{suffix}.tmp-XXXXXXXX") || fail "$n cannot \
unpack its interpreter into '$r'."
  tail -c +{start} -- "$z" | head -c {size} >"$t/python.tar.gz"
  h=$(sha256sum <"$t/python.tar.gz")
  [ "${{h%% *}}" = {sha256} ] || {{ rm -rf -- "$t"; fail "$n is damaged: its interpreter \
does not match its checksum. Download it again; nothing was unpacked."; }}
  tar -xzf "$t/python.tar.gz" -C "$t" --no-same-owner && rm -f -- "$t/python.tar.gz" &&
  echo {sha256} >"$t/.django-zipapp-complete" || {{ rm -rf -- "$t"; fail "$n cannot unpack \
its interpreter into '$r'. Free some space or point SHIV_ROOT at another directory."; }}
  # Renamed into place in one step: a start never sees half an interpreter.
  [ -e "$d" ] && mv -T -- "$d" "$t.trash" && rm -rf -- "$t.trash"
  mv -T -- "$t" "$d" 2>/dev/null || rm -rf -- "$t"
fi
export SHIV_ROOT="$r"
unset PYTHONHOME
{library_path}exec "$d/python/bin/python3" -c 'import sys;a=sys.argv;del a[0];\
sys.path[0]=a[0];import {boot} as b;b.main()' "$0" "$@"
exit 1
"""
# The launcher's own one-letter shell variables: a caller may have exported one of these
# names, and assigning it would change what the site sees; kept in the same way.
SHELL_NAMES = "nzsmgabrvdth"
KEEP_SHELL_NAMES = "".join(
    f'[ -z "${{{name}+x}}" ] || export DJANGO_ZIPAPP_OUTER_{name}="=${name}"\n'
    for name in SHELL_NAMES
)
# What LD_LIBRARY_PATH was is kept in the same way (boot.names.OUTER_PREFIX).
LIBRARY_PATH = 'DJANGO_ZIPAPP_OUTER_LD_LIBRARY_PATH="${LD_LIBRARY_PATH+=$LD_LIBRARY_PATH}"\n'
LIBRARY_PATH += "export DJANGO_ZIPAPP_OUTER_LD_LIBRARY_PATH\n"
LIBRARY_PATH += "LD_LIBRARY_PATH=$d/python/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n"
LIBRARY_PATH += "export LD_LIBRARY_PATH\n"


def write_bundle(
    archive: Path, interpreter: Interpreter, output: Path, *, build_id: str, boot_module: str
) -> None:
    """Write launcher + interpreter + archive to output, atomically."""
    tarball_size = interpreter.tarball.stat().st_size
    archive_size = archive.stat().st_size
    header = b""
    # The header names its own length (where the tarball starts): two rounds settle it.
    for _ in range(3):
        total = len(header) + tarball_size + archive_size
        header = _header(interpreter, output.name, build_id, boot_module, len(header), total)
    with replacing(output, "The archive") as partial:
        with partial.open("wb") as file:
            file.write(header)
            for part in (interpreter.tarball, archive):
                with part.open("rb") as source:
                    shutil.copyfileobj(source, file, 1 << 20)
        assert partial.stat().st_size == total
        os.chmod(partial, 0o755)


def _header(
    interpreter: Interpreter, name: str, build_id: str, boot: str, offset: int, total: int
) -> bytes:
    glibc = interpreter.needs["glibc"]
    major, minor = glibc.split(".")
    record = json.dumps(interpreter.describe(), sort_keys=True, separators=(",", ":"))
    text = LAUNCHER.format(
        name=name,
        tag=HEADER_TAG,
        record=record,
        total=total,
        machine=interpreter.needs["machine"],
        glibc=glibc,
        glibc_major=major,
        glibc_minor=minor,
        build_id=build_id,
        suffix=INTERPRETER_SUFFIX,
        start=offset + 1,
        size=interpreter.tarball.stat().st_size,
        sha256=interpreter.sha256,
        library_path=LIBRARY_PATH if interpreter.library_path else "",
        keep_shell_names=KEEP_SHELL_NAMES,
        boot=boot,
    )
    return text.encode()
