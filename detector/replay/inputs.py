"""Reading replay inputs: files, globs, ``-`` (stdin), ``.gz``; whole lines, in chunks.

Inputs are streamed in chunks that end on a line boundary, so memory stays flat
whatever the file size. A line longer than ``max_line_bytes`` is cut to that
length (the rest of it skipped) and counted; it never stops the run.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import sys
from typing import BinaryIO

from detector.errors import InputError

__all__ = ["ChunkReader", "expand_inputs"]

CHUNK_SIZE = 4 << 20


def expand_inputs(specs: list[str]) -> list[str]:
    """Paths in the order given; a glob expands to its files, oldest first."""
    paths: list[str] = []
    for spec in specs:
        if spec == "-":
            paths.append("-")
            continue
        if glob.has_magic(spec):
            found = [p for p in glob.glob(os.path.expanduser(spec), recursive=True)
                     if os.path.isfile(p)]
            if not found:
                raise InputError(f"{spec}: no file matches")
            paths.extend(sorted(found, key=lambda p: (os.path.getmtime(p), p)))
            continue
        path = os.path.expanduser(spec)
        if not os.path.exists(path):
            raise InputError(f"{spec}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{spec}: is a directory (use a glob such as {spec}/*.log)")
        if not os.access(path, os.R_OK):
            raise InputError(f"{spec}: permission denied")
        paths.append(path)
    return paths


def _open(path: str) -> tuple[BinaryIO | io.BufferedIOBase, BinaryIO | None, int | None]:
    """(the stream to read, the raw file under it, its size)."""
    if path == "-":
        return sys.stdin.buffer, None, None
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by ChunkReader.close
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    size = os.fstat(raw.fileno()).st_size
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b" or path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw, size
    return raw, raw, size


class ChunkReader:
    """Whole-line chunks of one input, plus how far through it we are."""

    def __init__(self, path: str, *, chunk_size: int = CHUNK_SIZE,
                 max_line_bytes: int = 1 << 20) -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.max_line_bytes = max_line_bytes
        self.file, self._raw, self.size = _open(path)
        self.carry = b""
        self.skipping = False          # inside the cut-off rest of an oversized line
        self.oversized = 0
        self.eof = False

    @property
    def position(self) -> int:
        """Bytes of the underlying (compressed) file read so far."""
        try:
            raw = self._raw
            return raw.tell() if raw is not None and not raw.closed else self.size or 0
        except (OSError, ValueError):
            return 0


    def read(self) -> bytes | None:
        """The next run of whole lines (each ending in ``\\n``), ``None`` at the end."""
        if self.eof:
            return None
        try:
            data = self.file.read(self.chunk_size)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.path}: {exc}") from None
        if not data:
            self.eof = True
            tail, self.carry = self.carry, b""
            if self.skipping or not tail:
                return b""
            return tail + b"\n"
        if self.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return b""
            data = data[newline + 1:]
            self.skipping = False
        buf = self.carry + data if self.carry else data
        cut = buf.rfind(b"\n") + 1
        self.carry = buf[cut:]
        if len(self.carry) > self.max_line_bytes:
            self.oversized += 1
            head = self.carry[: self.max_line_bytes] + b"\n"
            self.carry = b""
            self.skipping = True
            return buf[:cut] + head
        return buf[:cut]

    def close(self) -> None:
        if self.file is not sys.stdin.buffer:
            self.file.close()
            if self._raw is not None and self._raw is not self.file:
                self._raw.close()

