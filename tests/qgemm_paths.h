// tests/qgemm_paths.h — the int8 GEMM paths a test runs: every ISA this CPU
// supports (the avx2 one picks its vpmaddubsw or widening kernels from the
// data, as in use), plus kernel sets forced directly:
//   "avx2-u7"           core/qgemm_avx2_u7.cpp, for activations < 128 only
//                       (a_max = 127: the test gives it 7-bit data);
//   "avxvnni-emulated"  core/qgemm_avxvnni.cpp with vpdpbusd emulated in AVX2
//                       (tests/qgemm_avxvnni_emulated.cpp), when the CPU lacks AVX-VNNI;
//   "<path>-wx"         the same (or the ISA's) xw/wx kernels with no hwc kernel:
//                       every x86 path runs convolutions channels-last (hwc), so
//                       these keep the planar wx kernels tested on convolutions too.
// Link qgemm_avxvnni_emulated.cpp into the test.
#pragma once

#include <string>
#include <vector>

#include "core/qgemm.h"
#include "core/qgemm_kernels.h"

namespace minidl::qkern {
void xw_avxvnni_emulated(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avxvnni_emulated(int64_t, int64_t, const XSrc&, const W&, const Out&);
void hwc_avxvnni_emulated(int64_t, int64_t, const HwcSrc&, const W&, const Out&);
}  // namespace minidl::qkern

namespace minidl::test {

struct Path {
  std::string name;
  QIsa isa;
  qkern::XwFn xw = nullptr;  // forced kernels (null: the ISA's own dispatch)
  qkern::WxFn wx = nullptr;
  qkern::HwcFn hwc = nullptr;  // forced kernels: the convolutions' (null: planar, wx)
  int a_max = 255;           // the largest activation (and zero point) the path accepts
  void use() const {
    set_qgemm_isa(isa);
    qkern::set_kernels_for_testing(xw, wx, hwc);
  }
};

inline std::vector<Path> paths() {
  std::vector<Path> r;
  for (QIsa i : {QIsa::Generic, QIsa::Avx2, QIsa::AvxVnni, QIsa::Avx512Vnni})
    if (qisa_supported(i)) r.push_back({qisa_name(i), i});
  if (qisa_supported(QIsa::Avx2)) {
    r.push_back({"avx2-u7", QIsa::Avx2, qkern::xw_avx2_u7, qkern::wx_avx2_u7, qkern::hwc_avx2_u7, 127});
    r.push_back({"avx2-u7-wx", QIsa::Avx2, qkern::xw_avx2_u7, qkern::wx_avx2_u7, nullptr, 127});
    r.push_back({"avx2-wx", QIsa::Avx2, qkern::xw_avx2, qkern::wx_avx2});
  }
  if (qisa_supported(QIsa::AvxVnni)) r.push_back({"avxvnni-wx", QIsa::AvxVnni, qkern::xw_avxvnni, qkern::wx_avxvnni});
  if (qisa_supported(QIsa::Avx512Vnni))
    r.push_back({"avx512vnni-wx", QIsa::Avx512Vnni, qkern::xw_avx512vnni, qkern::wx_avx512vnni});
  if (qisa_supported(QIsa::Avx2) && !qisa_supported(QIsa::AvxVnni)) {
    r.push_back({"avxvnni-emulated", QIsa::Avx2, qkern::xw_avxvnni_emulated, qkern::wx_avxvnni_emulated,
                 qkern::hwc_avxvnni_emulated});
    r.push_back({"avxvnni-emulated-wx", QIsa::Avx2, qkern::xw_avxvnni_emulated, qkern::wx_avxvnni_emulated});
  }
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
