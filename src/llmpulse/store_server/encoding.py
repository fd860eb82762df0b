"""Request bodies as clients send them: HTTP ``Content-Encoding`` and ClickHouse's own
compressed-block framing (``decompress=1``)."""

from __future__ import annotations

import gzip
import struct
import zlib

from llmpulse.store_server.errors import ServerError

#: ClickHouse error code for a body it cannot decompress (CANNOT_DECOMPRESS).
CANNOT_DECOMPRESS = 271
#: Compressed block header after the 16-byte checksum: method, compressed size (with the
#: 9-byte header), decompressed size.
_BLOCK_HEADER = struct.Struct("<BII")
_CHECKSUM_SIZE = 16
_METHOD_NONE, _METHOD_LZ4, _METHOD_ZSTD = 0x02, 0x82, 0x90


def decode_content(data: bytes, encoding: str | None) -> bytes:
    """``data`` without its ``Content-Encoding`` (identity, gzip, deflate, lz4, zstd, br)."""
    name = (encoding or "identity").strip().lower()
    try:
        if name in ("", "identity"):
            return data
        if name in ("gzip", "x-gzip"):
            return gzip.decompress(data)
        if name == "deflate":
            return zlib.decompress(data)
        if name == "lz4":
            return _lz4_frames(data)
        if name == "zstd":
            return _zstd(data)
        if name == "br":
            import brotli

            return bytes(brotli.decompress(data))
    except ImportError as exc:
        raise ServerError(CANNOT_DECOMPRESS, f"no decoder installed for {name}: {exc}") from exc
    except ServerError:
        raise
    except Exception as exc:
        raise ServerError(CANNOT_DECOMPRESS, f"cannot decode the {name} body: {exc}") from exc
    raise ServerError(CANNOT_DECOMPRESS, f"unknown Content-Encoding {encoding!r}")


def _lz4_frames(data: bytes) -> bytes:
    """Every LZ4 frame of ``data`` (clients send one frame per block, back to back)."""
    import lz4.frame

    out = bytearray()
    rest = data
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out += decompressor.decompress(rest)
        if not decompressor.eof:
            raise ValueError("truncated LZ4 frame")
        rest = decompressor.unused_data
    return bytes(out)


def _zstd(data: bytes) -> bytes:
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    return bytes(zstd.decompress(data))


def unframe_blocks(data: bytes) -> bytes:
    """The payload of ClickHouse compressed blocks (``decompress=1``).

    Each block is a 16-byte CityHash128 checksum, a method byte, the compressed size (with
    the 9-byte header), the decompressed size and the data.  The checksum is not verified
    (the server listens on loopback; a corrupt block fails to decompress or to parse).
    """
    out = bytearray()
    at = 0
    try:
        while at < len(data):
            method, size, plain = _BLOCK_HEADER.unpack_from(data, at + _CHECKSUM_SIZE)
            start = at + _CHECKSUM_SIZE + _BLOCK_HEADER.size
            end = at + _CHECKSUM_SIZE + size
            if size < _BLOCK_HEADER.size or end > len(data):
                raise ValueError("truncated compressed block")
            payload = data[start:end]
            if method == _METHOD_NONE:
                out += payload
            elif method == _METHOD_LZ4:
                import lz4.block

                out += lz4.block.decompress(payload, uncompressed_size=plain)
            elif method == _METHOD_ZSTD:
                out += _zstd(payload)
            else:
                raise ValueError(f"unknown compression method 0x{method:02x}")
            at = end
    except (struct.error, ValueError, RuntimeError) as exc:
        raise ServerError(CANNOT_DECOMPRESS, f"cannot read compressed blocks: {exc}") from exc
    return bytes(out)
