#!/bin/sh
# A portable build (MINIDL_NATIVE=OFF) must not use AVX/AVX-512 registers
# outside the files compiled for them on purpose (*_avx512.cpp and the int8
# kernels' per-ISA files), or the library would crash on CPUs without them —
# what -march=native did. Disassembles every object file of the library and
# fails naming the first offender.
#   portable_objects.sh BUILD_DIR
set -eu
dir="$1/CMakeFiles/minidl.dir"
[ -d "$dir" ] || { echo "portable_objects: no $dir"; exit 1; }
n=0
for o in $(find "$dir" -name '*.o' | sort); do
  case "$o" in
    *_avx512.cpp.o|*_avx2.cpp.o|*_avx2_u7.cpp.o|*_avxvnni.cpp.o|*_avx512vnni.cpp.o) continue ;;
  esac
  n=$((n + 1))
  hit=$(objdump -d --no-show-raw-insn "$o" | grep -m1 -E '%[yz]mm[0-9]' || true)
  if [ -n "$hit" ]; then
    echo "portable_objects: $o uses wide vector registers: $hit"
    exit 1
  fi
done
echo "portable_objects: $n object files, none uses ymm/zmm registers"
