"""Content codings of a request body (RFC 9110 §8.4): an import may be sent gzip-compressed,
which is decompressed here as it arrives; every other coding but ``identity`` is refused (415).

A gzip body is inflated with zlib in steps of at most STEP_BYTES of output, so a small body that
expands enormously (a "gzip bomb") is stopped after a few steps: past RATIO_FREE_BYTES of output,
the decompressed size may be at most MAX_RATIO times the compressed bytes received (413), and it
counts against the import's byte limit. Real NDJSON and CSV compress about 5:1 to 40:1.
"""

import zlib

from dataset_api.errors import ApiError

GZIP = ("gzip", "x-gzip")  # RFC 9110 §8.4.1.3: a recipient treats x-gzip as gzip
MAX_RATIO = 100
RATIO_FREE_BYTES = 1024 * 1024  # a body that decompresses to less is never too compressed
STEP_BYTES = 256 * 1024  # output per zlib call: the bounds are checked between calls
GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer (not zlib's, not raw deflate)


def codings(headers):
    """The content codings the request's ``Content-Encoding`` headers name, in order, lowercased,
    ``identity`` left out; ``headers`` are the ASGI scope's (name, value) byte pairs."""
    named = []
    for key, value in headers:
        if key == b"content-encoding":
            named += [c.strip().lower() for c in value.decode("latin-1").split(",")]
    return [c for c in named if c and c != "identity"]


def unsupported(named, gzip_taken=False):
    """The 415 for the codings ``named`` where the route takes identity only (or gzip too, when
    ``gzip_taken``); its ``Accept-Encoding`` says what it takes (RFC 7694 §3)."""
    instead = "gzip-compressed or uncompressed" if gzip_taken else "uncompressed (identity)"
    return ApiError(f"Content-Encoding {', '.join(named)!r} is not taken here: send the body "
                    f"{instead}.", status=415,
                    headers={"Accept-Encoding": "gzip, identity" if gzip_taken else "identity"})


def corrupt(why):
    return ApiError(f"The body is not valid gzip ({why}); nothing was written.", status=400,
                    code="parse_error")


class Gunzip:
    """Inflate a gzip body piece by piece (``feed``, then ``finish``); raise ApiError: 413 past
    ``limit`` decompressed bytes or MAX_RATIO, 400 when the stream is corrupt or cut short.
    Concatenated gzip members are one body, as gzip(1) reads them."""

    def __init__(self, limit):
        self.limit, self.received, self.size = limit, 0, 0
        self._inflate = zlib.decompressobj(GZIP_WBITS)

    def feed(self, data):
        """Return the decompressed bytes of the next piece ``data`` of the body."""
        self.received += len(data)
        out = []
        while True:
            if self._inflate.eof and data:  # the next member begins
                self._inflate = zlib.decompressobj(GZIP_WBITS)
            elif not data and (self._inflate.eof or not out or len(out[-1]) < STEP_BYTES):
                break  # all input taken, and no full step that zlib may not have finished
            try:
                piece = self._inflate.decompress(data, STEP_BYTES)
            except zlib.error as exc:
                raise corrupt(exc) from None
            data = self._inflate.unused_data if self._inflate.eof else self._inflate.unconsumed_tail
            self._count(len(piece))
            out.append(piece)
        return b"".join(out)

    def finish(self):
        """Check that the body ended where a gzip member ends."""
        if not self._inflate.eof:
            raise corrupt("it ends before its last member does" if self.received else "it is empty")

    def _count(self, n):
        self.size += n
        if self.size > self.limit:
            raise ApiError(f"The decompressed body exceeds {self.limit} bytes.", status=413)
        if self.size > RATIO_FREE_BYTES and self.size > MAX_RATIO * self.received:
            raise ApiError(f"The gzip body expands more than {MAX_RATIO}:1; send it uncompressed.",
                           status=413, code="compression_ratio")
