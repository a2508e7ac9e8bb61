// core/qgemm_avxvnni.cpp compiled again for the tests with vpdpbusd emulated
// in AVX2 (see MINIDL_QGEMM_EMULATE_VNNI there): exercises that path's code on
// machines without AVX-VNNI. Only called when the CPU has AVX2.
// (compiled with -march=x86-64-v3: tests/CMakeLists.txt)
#define MINIDL_QGEMM_EMULATE_VNNI
#include "core/qgemm_avxvnni.cpp"
