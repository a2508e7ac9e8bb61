"""minidl vs PyTorch 1.13 on the seed CNN, side by side, with the GEMM-bound and multiplications-bound limits.

Runs build/bench/bench_seed_cnn (minidl) and bench/torch_bench_seed_cnn.py
(PyTorch, Debian's python3-torch) alternately, several rounds per thread
count, keeps the best figure of each (the machine is shared: the best is the
least disturbed), and prints one table per thread count with the ratios and
the targets of the performance issues (the multiplications-bound limit and
the PyTorch* targets: issue 19, Winograd; bench/README.md). Peak RSS comes from a separate training
process per side. Usage (bench/run.sh builds first, then calls this):

  /usr/bin/python3 bench/compare.py [--minidl build/bench/bench_seed_cnn] [--threads 2,1]
                                    [--rounds 3] [--reps 5] [--json out.json] [--no-torch-tuned]
                                    [--keep-openblas-coretype] [--smoke]

Both sides run in the caller's environment, except OPENBLAS_CORETYPE: if it
is set (this project's development sessions set OPENBLAS_CORETYPE=Haswell,
which forces OpenBLAS's AVX2 kernels on an AVX-512 CPU), it is removed for
both sides, so each gets the kernels OpenBLAS picks for the CPU, as a user
without the variable would; --keep-openblas-coretype keeps it (for both).

"PyTorch*" is the same PyTorch with glibc malloc told to keep freed memory
(MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_): by default
glibc gives PyTorch's large activation buffers back to the kernel after each
step and page-faults them in again on the next, which on this virtual machine
costs PyTorch most of its time (bench/README.md). minidl's caching allocator
avoids that by design; PyTorch* shows how PyTorch does without the faults.
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "17179869184",
                   "MALLOC_TOP_PAD_": "536870912"}

# key, label, better ("hi" or "lo"), format, GEMM-limit key, multiplications-limit key
ROWS = [
    ("train_sps", "training samples/s (batch 64, SGD momentum)", "hi", "{:.0f}", "gemm_train_sps", "mult_train_sps"),
    ("infer256_sps", "inference samples/s, batch 256", "hi", "{:.0f}", "gemm_infer256_sps", "mult_infer256_sps"),
    ("infer1_sps", "inference samples/s, batch 1", "hi", "{:.0f}", "gemm_infer1_sps", None),
    ("infer1_latency_us", "inference latency us, batch 1", "lo", "{:.1f}", None, None),
    ("conv1_fwd_ms", "conv1 1->32 3x3 forward ms (batch 64)", "lo", "{:.3f}", None, None),
    ("conv1_bwd_ms", "conv1 backward ms (dW, db)", "lo", "{:.3f}", None, None),
    ("conv2_fwd_ms", "conv2 32->64 3x3 forward ms (batch 64)", "lo", "{:.3f}", "gemm_conv2_fwd_ms", "mult_conv2_fwd_ms"),
    ("conv2_bwd_ms", "conv2 backward ms (dx, dW, db)", "lo", "{:.3f}", None, None),
    ("fc1_fwd_ms", "fc1 2304->100 forward ms (batch 64)", "lo", "{:.3f}", None, None),
    ("fc1_bwd_ms", "fc1 backward ms", "lo", "{:.3f}", None, None),
    ("fc2_fwd_ms", "fc2 100->10 forward ms (batch 64)", "lo", "{:.4f}", None, None),
    ("fc2_bwd_ms", "fc2 backward ms", "lo", "{:.4f}", None, None),
    ("peak_rss_mb", "peak RSS MiB, training run (own process)", "lo", "{:.0f}", None, None),
]


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def merge(runs):
    """Best of several runs: max for rates, min for times and memory."""
    best = dict(runs[0])
    for r in runs[1:]:
        for k, v in r.items():
            if not isinstance(v, (int, float)) or k == "threads": continue
            better_hi = k.endswith("_sps") or k.endswith("gflops")
            best[k] = max(best[k], v) if better_hi else min(best[k], v)
    return best


def fmt(v, f):
    return "-" if v is None else f.format(v)


def table(t, m, p, pt):
    cols = ["minidl", "PyTorch", "minidl/PyTorch"] + (["PyTorch*", "minidl/PyTorch*"] if pt else []) + \
           ["GEMM-bound", "minidl/limit", "mult-bound", "minidl/mult"]
    w = 44
    lines = [f"{'':{w}}" + "".join(f"{c:>17}" for c in cols)]
    for key, label, better, f, lim, mlim in ROWS:
        mv, pv = m.get(key), p.get(key)
        cells = [fmt(mv, f), fmt(pv, f), f"{mv / pv:.2f}x" if mv and pv else "-"]
        if pt:
            tv = pt.get(key)
            cells += [fmt(tv, f), f"{mv / tv:.2f}x" if mv and tv else "-"]
        for lk in (lim, mlim):
            lv = m.get(lk) if lk else None
            if lv and mv:  # share of the limit: rate / limit rate, or limit time / time
                share = mv / lv if better == "hi" else lv / mv
                cells += [fmt(lv, f), f"{100 * share:.0f}%"]
            else:
                cells += ["-", "-"]
        arrow = " (^)" if better == "hi" else " (v)"
        lines.append(f"{label + arrow:{w}}" + "".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)


def targets(m, p, pt=None):
    ok = lambda b: "MET" if b else "NOT MET"
    r = []
    tr = m["train_sps"] / p["train_sps"]
    r.append(f"  training >= 1.5x PyTorch: {tr:.2f}x  {ok(tr >= 1.5)}")
    inf = m["infer256_sps"] / p["infer256_sps"]
    r.append(f"  inference batch 256 >= 4x PyTorch: {inf:.2f}x  {ok(inf >= 4)}")
    lim = m["infer256_sps"] / m["gemm_infer256_sps"]
    r.append(f"  inference batch 256 >= 50% of the GEMM-bound limit: {100 * lim:.0f}%  {ok(lim >= 0.5)}")
    lat = m["infer1_latency_us"] / p["infer1_latency_us"]
    r.append(f"  batch-1 latency <= 0.5x PyTorch: {lat:.2f}x  {ok(lat <= 0.5)}")
    mem = m["peak_rss_mb"] / p["peak_rss_mb"]
    r.append(f"  peak RSS <= PyTorch: {mem:.2f}x  {ok(mem <= 1)}")
    if pt:  # issue 19 (Winograd): against PyTorch*
        tr = m["train_sps"] / pt["train_sps"]
        r.append(f"  training >= 1.5x PyTorch*: {tr:.2f}x  {ok(tr >= 1.5)}")
        inf = m["infer256_sps"] / pt["infer256_sps"]
        r.append(f"  inference batch 256 >= 1.8x PyTorch*: {inf:.2f}x  {ok(inf >= 1.8)}")
    return "\n".join(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minidl", default=os.path.join(HERE, "..", "build", "bench", "bench_seed_cnn"))
    ap.add_argument("--torch", default=os.path.join(HERE, "torch_bench_seed_cnn.py"))
    ap.add_argument("--threads", default="2,1"); ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5); ap.add_argument("--json")
    ap.add_argument("--no-torch-tuned", action="store_true"); ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep-openblas-coretype", action="store_true")
    a = ap.parse_args()
    extra = ["--smoke"] if a.smoke else []
    rounds, reps = (1, 1) if a.smoke else (a.rounds, a.reps)
    py = "/usr/bin/python3"
    env = dict(os.environ)
    if "OPENBLAS_CORETYPE" in env and not a.keep_openblas_coretype:
        print(f"note: OPENBLAS_CORETYPE={env.pop('OPENBLAS_CORETYPE')} is set in this environment; removed for both "
              "sides (--keep-openblas-coretype keeps it)", file=sys.stderr)
    tuned_env = dict(env, **TORCH_TUNED_ENV)
    results = {}
    for T in [int(t) for t in a.threads.split(",")]:
        mr, pr, tr = [], [], []
        for i in range(rounds):  # alternate who goes first, so drifting load hits both alike
            jobs = [("m", [a.minidl, "--threads", str(T), "--reps", str(reps)] + extra, env),
                    ("p", [py, a.torch, "--threads", str(T), "--reps", str(reps)] + extra, env)]
            if not a.no_torch_tuned:
                jobs.append(("t", [py, a.torch, "--threads", str(T), "--reps", str(reps)] + extra, tuned_env))
            for who, cmd, e in (jobs if i % 2 == 0 else jobs[::-1]):
                {"m": mr, "p": pr, "t": tr}[who].append(run_json(cmd, e))
                print(f"  threads {T}, round {i + 1}/{rounds}: {who} done", file=sys.stderr, flush=True)
        m, p = merge(mr), merge(pr)
        t = merge(tr) if tr else None
        m.update(run_json([a.minidl, "--threads", str(T), "--peak-rss"] + extra, env))
        p.update(run_json([py, a.torch, "--threads", str(T), "--peak-rss"] + extra, env))
        if t: t.update(run_json([py, a.torch, "--threads", str(T), "--peak-rss"] + extra, tuned_env))
        results[T] = {"minidl": m, "torch": p, "torch_tuned": t}
        print(f"\n== {T} thread{'s' if T > 1 else ''} == minidl with OpenBLAS {m.get('blas_core')} kernels; "
              f"PyTorch {p.get('version')} (oneDNN convolutions, OpenBLAS {p.get('blas_core')} for nn.Linear); "
              f"best of {rounds} rounds x {reps} reps;\n"
              f"GEMM-bound: sgemm alone at {m.get('gemm_conv2_gflops', 0):.0f} GFLOP/s on conv2's per-sample product")
        print("(^) higher is better, (v) lower is better; ratios are minidl / PyTorch")
        print(table(T, m, p, t))
        print("targets (" + str(T) + " threads):\n" + targets(m, p, t), flush=True)
    if a.json:
        with open(a.json, "w") as f: json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
