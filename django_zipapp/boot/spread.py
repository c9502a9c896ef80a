"""Asking the file system to give each new tree of the cache a place of its own.

May set one attribute, ext2/3/4's "top of directory hierarchies" flag (``chattr +T``),
on a folder it is given (the extraction root, the shared store), and nothing else: it
creates, reads and removes no file. Where the file system has no such flag, or the
process may not set it, it does nothing.

Why: ext4 places a new folder next to its parent's, and a file in its folder's block
group. On ext4 without a journal the kernel does not hand out again an inode freed in
the last minute or more, and searches past every such inode for each new file: a first
start right after thousands of files were removed near the cache (a build run on the
same disk, a package upgrade) paid that search for each of its thousands of files. With
the flag on their parent, the folders of new builds and layers are spread the way the
kernel spreads top-level directories (the Orlov allocator: to a group with few folders
and more free inodes and blocks than average), most often away from what was just
freed. Costs one ioctl() when a tree is made, none at a warm start.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

# linux/fs.h: FS_IOC_GETFLAGS is _IOR('f', 1, long), FS_IOC_SETFLAGS _IOW('f', 2, long);
# the kernel reads and writes an int through either.
_LONG = struct.calcsize("l")
_GET_FLAGS = (2 << 30) | (_LONG << 16) | (ord("f") << 8) | 1
_SET_FLAGS = (1 << 30) | (_LONG << 16) | (ord("f") << 8) | 2
TOPDIR_FLAG = 0x00020000  # FS_TOPDIR_FL


def spread_children(folder: Path) -> None:
    """Mark ``folder`` so that each folder made in it goes to a block group of its own."""
    if not sys.platform.startswith("linux"):
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        flags = _get(descriptor)
        if not flags & TOPDIR_FLAG:
            import fcntl

            fcntl.ioctl(descriptor, _SET_FLAGS, _pack(flags | TOPDIR_FLAG))
    except OSError:
        # A file system without the flag, or a folder this user does not own: the trees
        # go where the kernel puts them by default, as they did without it.
        return
    finally:
        os.close(descriptor)


def _get(descriptor: int) -> int:
    import fcntl

    buffer = bytearray(_LONG)
    fcntl.ioctl(descriptor, _GET_FLAGS, buffer, True)
    value: int = struct.unpack_from("i", buffer)[0]
    return value


def _pack(flags: int) -> bytearray:
    buffer = bytearray(_LONG)
    struct.pack_into("i", buffer, 0, flags)
    return buffer
