// minidl/compress/entropy.h — lossless entropy coding of byte streams with a
// well-kept library, the last stage of Deep Compression (Han, Mao & Dally 2016,
// §4: Huffman coding of the codebook indices and the sparse relative indices).
//
// Instead of a hand-written Huffman coder, the streams go through zstd (its
// literals are Huffman coded, its sequences FSE/ANS coded, and it finds
// repeats a per-symbol code cannot) or zlib's deflate (LZ77 + Huffman). Both
// are deterministic for a given library version and level, and decoding checks
// that exactly the announced number of bytes comes out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace minidl::compress {

enum class Codec : uint8_t { None = 0, Zlib = 1, Zstd = 2 };

const char* codec_name(Codec c);
Codec codec_from_name(const std::string& name);  // "none" | "zlib" | "zstd", else minidl::Error

// The compressed bytes of `raw` (zlib level 9, zstd level 19; None: a copy).
std::string entropy_encode(Codec codec, const std::string& raw);
// Decompresses n bytes at p into exactly raw_len bytes. Returns false (and
// sets `why`) when the stream is damaged or does not decode to raw_len bytes;
// raw_len must have been validated by the caller before this allocates it.
bool entropy_decode(Codec codec, const unsigned char* p, size_t n, size_t raw_len, std::string& out, std::string& why);

}  // namespace minidl::compress
