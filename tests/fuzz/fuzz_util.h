// tests/fuzz/fuzz_util.h — what every loader harness shares.
//
// Each harness defines LLVMFuzzerTestOneInput (libFuzzer's entry point): it
// writes the input to a file in a private scratch directory (the loaders read
// paths: that is the code users run), calls the loader, and accepts exactly
// two outcomes: success or minidl::Error. Anything else — a crash, a sanitizer
// report, another exception type, an allocation above -malloc_limit_mb, a hang
// — is a bug. The same entry point is linked into a small replay driver
// (replay_main.cpp) that the normal test suite runs over regressions/<target>/.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace minidl::fuzz {

// A scratch directory for this process (tmpfs when there is one), removed at exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    std::string templ = base + "/minidl_fuzz_XXXXXX";
    if (!::mkdtemp(templ.data())) std::abort();
    static std::filesystem::path keep = templ;
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(keep, ec); });
    return keep;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& p, const uint8_t* data, size_t size) {
  std::filesystem::create_directories(p.parent_path());
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Runs `f`; minidl::Error is the expected way to reject a bad file.
template <class F>
int expect_ok_or_error(F&& f) {
  try {
    f();
  } catch (const minidl::Error&) {
  }
  return 0;
}

}  // namespace minidl::fuzz
