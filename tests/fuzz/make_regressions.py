#!/usr/bin/env python3
"""Writes the hand-made regression inputs of tests/fuzz/regressions/: one per
failure class issue 16 lists (found by fuzzing from outside), each prefixed with
its harness's control byte(s). Inputs the fuzzers themselves find are added to
the same folders as libFuzzer saved them (crash-<sha1>). Re-running this script
rewrites only the files it owns (names starting with "issue16_").

usage: tests/fuzz/make_regressions.py
"""
import gzip, os, struct, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regressions")

def emit(target, name, data, issue="issue16_"):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, issue + name), "wb") as f: f.write(data)

def idx(dtype, dims, data=b""):
    return bytes([0, 0, dtype, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data

# IDX: element counts whose int64 product overflows before a zero dimension.
emit("idx", "numel_overflow_zero_last", b"\0\0" + idx(8, [0xFFFFFFFF, 0xFFFFFFFF, 0]))
emit("idx", "numel_overflow_zero_first", b"\0\0" + idx(8, [0, 0xFFFFFFFF, 0xFFFFFFFF]))
emit("idx", "rank255_truncated", b"\0\0" + bytes([0, 0, 8, 255]) + b"\xff" * 40)
emit("idx", "mnist_labels_huge_count", b"\x01\x80" + idx(8, [3, 2, 2], bytes(12)) + idx(8, [0xFFFFFFFF]))
# IDX .gz: a header declaring 2 bytes in front of 32 MiB of zeros (inflating
# it all was the bug), written as a .gz as is (mode byte 1 << 1).
bomb = gzip.compress(idx(8, [2], b"\0\0") + bytes(32 << 20), 9)
emit("idx_gz", "bomb_small_header", bytes([1 << 1, 0]) + bomb)
emit("idx_gz", "truncated_stream", bytes([1 << 1, 0]) + gzip.compress(idx(8, [3, 4, 4], bytes(48)))[:30])
# CIFAR-10: a truncated record, a bad label.
emit("cifar10", "truncated_record", b"\0" + bytes(3073 + 100))
emit("cifar10", "label_10", b"\0" + b"\x0a" + bytes(3072))
# CSV: labels that overflow the class count or ask for 10^12 + 1 classes.
emit("csv", "label_int64_max", bytes([1 | 15 << 3]) + b"x,y\n1,9223372036854775807\n")
emit("csv", "label_1e12", bytes([1 | 15 << 3]) + b"x,y\n1,1000000000000\n2,0\n")
# Image folders (flags: extension index, bit 3 RGB, bits 4-5 resize).
emit("image_folder", "pgm_22_bytes_400MB", bytes([5]) + b"P5 20000 20000 255\n\0\0\0")
emit("image_folder", "pgm_truncated", bytes([5]) + b"P5 5 3 255\n" + bytes(7))
emit("image_folder", "pgm_int_overflow", bytes([5]) + b"P5 99999999999999 3 255\n" + bytes(7))
bmp = lambda w, h, bpp, pixels, off=54: (b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off) +
      struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, 0, len(pixels), 0, 0, 0, 0) + pixels)
emit("image_folder", "bmp_100_bytes_2GB", bytes([3 | 8]) + bmp(16000, 16000, 32, bytes(46)))
emit("image_folder", "bmp_truncated", bytes([3 | 8]) + bmp(5, 3, 24, bytes(20)))
emit("image_folder", "bmp_height_int_min", bytes([3 | 8]) + bmp(5, -2**31, 24, bytes(48)))
emit("image_folder", "bmp_zero_height_resized", bytes([3 | 8 | 3 << 4]) + bmp(5, 0, 24, bytes(48)))
def png_chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png_sig = b"\x89PNG\r\n\x1a\n"
ihdr = lambda w, h: png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
emit("image_folder", "png_zero_height_resized", bytes([0 | 2 << 4]) + png_sig + ihdr(4, 0) +
     png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b""))
emit("image_folder", "png_chunk_length_2GB", bytes([0]) + png_sig + ihdr(4, 4) + struct.pack(">I", 0x7FFFFFF0) + b"IDAT" + bytes(16))
emit("image_folder", "png_idat_bomb", bytes([0]) + png_sig + ihdr(4, 4) +
     png_chunk(b"IDAT", zlib.compress(bytes(64 << 20), 9)) + png_chunk(b"IEND", b""))
emit("image_folder", "png_no_iend", bytes([0]) + png_sig + ihdr(2, 2) + png_chunk(b"IDAT", zlib.compress(bytes(6))))
emit("image_folder", "jpeg_no_sof", bytes([1]) + b"\xff\xd8\xff\xda\x00\x02\x00\xff\xd9")
emit("image_folder", "tga_not_accepted", bytes([6]) + bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0]) + bytes(12))
# safetensors: duplicate names, leading spaces, a byte-order mark.
def st(h, data):
    h = h.encode() if isinstance(h, str) else h
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data
t = '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
emit("safetensors", "duplicate_name", st("{" + t + "," + t + "}", bytes(4)))
emit("safetensors", "leading_spaces", st("  {" + t + "}", bytes(4)))
emit("safetensors", "utf8_bom", st(b"\xef\xbb\xbf{" + t.encode() + b"}", bytes(4)))
emit("safetensors", "deep_nesting", st('{"__metadata__":' + "[" * 20000 + "]" * 20000 + "}", b""))
# sparse: a pattern record of 4 x 2^28 float32 (4 GiB) in ~70 bytes, valid CRCs.
def sparse_file(records):
    body = b"".join(struct.pack("<Q", len(r)) + r + struct.pack("<I", zlib.crc32(r)) for r in records)
    size = 28 + len(body)
    head = b"MDLSPARS" + struct.pack("<IIQ", 1, len(records), size)
    return head + struct.pack("<I", zlib.crc32(head)) + body
rec = struct.pack("<H", 1) + b"w" + bytes([0, 2, 2]) + struct.pack("<QQ", 4, 1 << 28) + bytes([4]) + struct.pack("<QQ", 0, 0) + bytes(4)
emit("sparse", "pattern_4GiB", sparse_file([rec]))
small = struct.pack("<H", 1) + b"w" + bytes([0, 2, 2]) + struct.pack("<QQ", 4, 1 << 22) + bytes([4]) + struct.pack("<QQ", 0, 0) + bytes(4)
refs = [struct.pack("<H", 2) + b"m%d" % i + bytes([0, 3, 2]) + struct.pack("<QQ", 4, 1 << 22) + struct.pack("<H", 1) + b"w" for i in range(64)]
emit("sparse", "pattern_refs_1GiB", sparse_file([small] + refs))
# dc (compress/dc_format.h, issue 15), zlib streams: a codebook of 2^20 x 2^20
# weights (4 TiB decoded) in ~60 bytes; and an index stream inflating past its
# announced length.
def varint(v):
    out = b""
    while True:
        b = v & 0x7f; v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v: return out
def dc_file(records, codec=1):
    body = b"".join(struct.pack("<I", len(r)) + r + struct.pack("<I", zlib.crc32(r)) for r in records)
    head = b"MDLDCOMP" + struct.pack("<IIQB", 1, len(records), 29 + len(body), codec)
    return head + struct.pack("<I", zlib.crc32(head)) + body
def stream(raw, claimed=None):
    z = zlib.compress(raw, 9)
    return varint(len(raw) if claimed is None else claimed) + varint(len(z)) + z
def codebook(dims, nnz, idx, codes):
    return (struct.pack("<H", 1) + b"w" + bytes([2, len(dims)]) + b"".join(varint(d) for d in dims) + bytes([2])
            + bytes(16) + varint(nnz) + idx + codes)
emit("dc", "codebook_4TiB", dc_file([codebook([1 << 20, 1 << 20], 0, stream(b""), stream(b""))]), "issue15_")
emit("dc", "index_stream_longer", dc_file([codebook([1, 4096], 4096, stream(bytes(4096), 10), stream(bytes(4096)))]), "issue15_")
print("regression inputs written to", root)
