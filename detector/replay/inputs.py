"""Reading replay inputs: files, globs, ``-`` (stdin), ``.gz``; whole lines, in chunks.

Inputs are streamed in chunks that end on a line boundary, so memory stays flat
whatever the file size. A line longer than ``max_line_bytes`` is cut to that
length (the rest of it skipped) and counted; it never stops the run.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import io
import os
import stat
import sys
import zlib
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
    """(the stream to read, the raw file under it, its size). Regular files, FIFOs and
    ``<(cmd)`` (read as streams, never sought), stdin; gzip is told by its magic."""
    raw: BinaryIO
    if path == "-":
        raw = sys.stdin.buffer
        size = None
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by ChunkReader.close
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}") from None
        info = os.fstat(raw.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
    try:
        magic = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if magic == b"\x1f\x8b" or (path.endswith(".gz") and size is not None):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw, size
    return raw, raw, size


def _encoding(head: bytes) -> tuple[str | None, int]:
    """(the encoding to transcode from, BOM bytes to skip) for an input's first bytes."""
    if head.startswith(codecs.BOM_UTF8):
        return None, 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0            # the decoder reads (and drops) the BOM itself
    sample = head[:1024]
    if len(sample) >= 8:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) * 0.4 and even == 0:
            return "utf-16-le", 0     # ASCII text as UTF-16 without its BOM
        if even > len(sample) * 0.4 and odd == 0:
            return "utf-16-be", 0
    return None, 0


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
        self.started = False
        self.encoding: str | None = None   # transcoded from (UTF-16), when not UTF-8
        self._decoder: codecs.IncrementalDecoder | None = None

    @property
    def position(self) -> int:
        """Bytes of the underlying (compressed) file read so far."""
        try:
            raw = self._raw
            if raw is None or raw is sys.stdin.buffer or self.size is None:
                return 0
            return raw.tell() if not raw.closed else self.size
        except (OSError, ValueError):
            return 0

    def _fill(self, size: int) -> tuple[bytes, bool]:
        """(bytes read, as UTF-8; True at the end of the input)."""
        try:
            data = self.file.read(size)
        except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"{self.path}: {_reason(exc)}") from None
        if not self.started:
            self.started = True
            encoding, skip = _encoding(data)
            data = data[skip:]
            if encoding is not None:
                self.encoding = encoding
                self._decoder = codecs.getincrementaldecoder(encoding)("replace")
        at_end = not data
        if self._decoder is not None:
            text = self._decoder.decode(data, final=at_end)
            data = text.replace("\r\n", "\n").encode("utf-8", "replace")
        return data, at_end

    def read(self, size: int | None = None) -> bytes | None:
        """The next run of whole lines (each ending in ``\\n``), ``None`` at the end.
        ``size``: read this much instead of a whole chunk (a first look at an input)."""
        if self.eof:
            return None
        data, at_end = self._fill(size or self.chunk_size)
        if at_end:
            self.eof = True
            tail, self.carry = self.carry + data, b""
            if self.skipping or not tail:
                return b""
            return tail if tail.endswith(b"\n") else tail + b"\n"
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"not a valid gzip file ({exc})"
    if isinstance(exc, EOFError):
        return "the compressed stream ends before its end marker (truncated .gz)"
    return str(getattr(exc, "strerror", None) or exc)
