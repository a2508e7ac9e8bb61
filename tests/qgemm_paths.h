// tests/qgemm_paths.h — the int8 GEMM paths a test runs: every ISA this CPU
// supports, plus the AVX-VNNI code with vpdpbusd emulated in AVX2
// ("avxvnni-emulated", tests/qgemm_avxvnni_emulated.cpp) when the CPU has AVX2
// but not AVX-VNNI. Link qgemm_avxvnni_emulated.cpp into the test.
#pragma once

#include <string>
#include <vector>

#include "core/qgemm.h"
#include "core/qgemm_kernels.h"

namespace minidl::qkern {
void xw_avxvnni_emulated(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avxvnni_emulated(int64_t, int64_t, const XSrc&, const W&, const Out&);
}  // namespace minidl::qkern

namespace minidl::test {

struct Path {
  std::string name;
  QIsa isa;
  bool emulated = false;
  void use() const {
    set_qgemm_isa(isa);
    if (emulated) qkern::set_kernels_for_testing(qkern::xw_avxvnni_emulated, qkern::wx_avxvnni_emulated);
    else qkern::set_kernels_for_testing(nullptr, nullptr);
  }
};

inline std::vector<Path> paths() {
  std::vector<Path> r;
  for (QIsa i : {QIsa::Generic, QIsa::Avx2, QIsa::AvxVnni, QIsa::Avx512Vnni})
    if (qisa_supported(i)) r.push_back({qisa_name(i), i});
  if (qisa_supported(QIsa::Avx2) && !qisa_supported(QIsa::AvxVnni)) r.push_back({"avxvnni-emulated", QIsa::Avx2, true});
  return r;
}

struct IsaGuard {
  QIsa saved = qgemm_isa();
  ~IsaGuard() {
    qkern::set_kernels_for_testing(nullptr, nullptr);
    set_qgemm_isa(saved);
  }
};

}  // namespace minidl::test
