#!/usr/bin/env bash
# One command for the int8 benchmarks (bench/README.md, "int8"):
#  1. GEMM rows at the seed CNN's shapes: minidl int8 (s32 and fused u8
#     output) vs oneDNN dnnl_gemm_u8s8s32 vs minidl fp32 vs OpenBLAS sgemm,
#     2 threads and 1, with the int8 peak measured on this machine;
#  2. the seed CNN end to end on minidl's integer ops vs minidl fp32 vs
#     PyTorch 1.13 int8 (onednn and qnnpack, fused) and fp32, batch 256 and 1.
# Every figure is process CPU time / threads (the machine is shared); quote
# ratios from one run. MINIDL_ISA=avx2|... forces minidl's int8 path.
# The network rows run in `rounds` alternating rounds (minidl, PyTorch, minidl,
# ...; default 3) and each row keeps its best round: this VM's speed drifts by
# up to 1.5x within minutes, and one round each put minidl and PyTorch in
# different spells of it.
#   bench/run_int8.sh [--reps N] [--rounds R]
set -euo pipefail
# Waiting OpenMP threads sleep instead of spinning: with CPU-time figures a
# thread spinning at a barrier while its partner is descheduled (a loaded,
# shared machine) would be counted as work — for every program alike (minidl,
# oneDNN and PyTorch all run on libgomp). Override by setting it yourself.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
root="$(cd "$(dirname "$0")/.." && pwd)"
reps=5 rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "run_int8.sh: unknown argument '$1' (--reps N, --rounds R)" >&2; exit 2 ;;
  esac
done
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j2 --target bench_int8_gemm bench_int8_cnn >/dev/null
"$root/build/bench/bench_int8_gemm" --reps "$reps"
echo
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in 2 1; do
  for r in $(seq "$rounds"); do
    echo "-- $t thread(s), round $r of $rounds"
    # minidl with 8-bit activations and with 7-bit ones (reduce_range: the AVX2
    # path's vpmaddubsw kernels), PyTorch as its own recipe quantizes
    for b in 8 7; do
      "$root/build/bench/bench_int8_cnn" --threads "$t" --reps "$reps" --act-bits "$b" | tee "$out/minidl$t-$b.r$r.txt"
    done
    /usr/bin/python3 "$root/bench/torch_int8_cnn.py" "$t" "$reps" | tee "$out/torch$t.r$r.txt"
    # PyTorch*: glibc told to keep freed memory (bench/README.md, "One command"), the stronger baseline
    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=536870912 \
      /usr/bin/python3 "$root/bench/torch_int8_cnn.py" "$t" "$reps" | sed 's/^torch /torch* /' | tee "$out/torchs$t.r$r.txt"
  done
done
/usr/bin/python3 - "$out" "$rounds" <<'PY'
import re, sys, pathlib
d = pathlib.Path(sys.argv[1]); v = {}
for f in d.glob("*.txt"):
    t, bits = re.search(r"(\d)(?:-(\d))?\.r\d+\.txt$", f.name).groups()
    for line in f.read_text().splitlines():
        m = re.match(r"(minidl|torch\*?) (\w+) bs(\d+)(?: t\d)?: (\d+) img/s ([\d.]+) us", line)
        if m:  # the best round of each row
            key, val = (m[1], m[2], bits or "", int(m[3]), t), (float(m[4]), float(m[5]))
            if key not in v or val[0] > v[key][0]: v[key] = val
print(f"\nseed CNN inference, ratios of images/s (same run, each row its best of {sys.argv[2]} alternating rounds):")
for t in "21":
    for bs in (256, 1):
      for bits in "87":
        q = v.get(("minidl", "int8", bits, bs, t)); f = v.get(("minidl", "fp32", bits, bs, t))
        tq = [v.get((p, e, "", bs, t)) for p in ("torch", "torch*") for e in ("onednn", "qnnpack")]
        anchor = max((x for x in tq if x), default=None)
        if not q or not f or not anchor: continue
        print(f"  {t} thread{'s' if t == '2' else ' '} bs{bs:<3} {bits}-bit act.: minidl int8 {q[0]:7.0f} img/s ({q[1]:7.1f} us) | "
              f"vs minidl fp32 {q[0] / f[0]:.2f}x | vs PyTorch int8 (best of onednn/qnnpack, plain/PyTorch*: {anchor[0]:.0f} img/s) {q[0] / anchor[0]:.2f}x"
              f" | latency vs PyTorch int8 {q[1] / anchor[1]:.2f}x")
PY
