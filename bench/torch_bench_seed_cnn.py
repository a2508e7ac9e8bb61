"""PyTorch 1.13 twin of bench/bench_seed_cnn.cpp: the same measurements, the same shapes.

Prints one JSON object (the keys bench_seed_cnn prints) so bench/compare.py can
put both side by side. Run with Debian's python3-torch:
  /usr/bin/python3 bench/torch_bench_seed_cnn.py --threads 2 [--reps 5] [--smoke]
  /usr/bin/python3 bench/torch_bench_seed_cnn.py --threads 2 --peak-rss   # a training run's VmHWM only
"""
import argparse, ctypes, json, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F


class Net(nn.Module):  # the seed CNN, as in shared/reference/torch_seed_cnn.py (no BatchNorm)
    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(1, 32, 3, 1); s.conv2 = nn.Conv2d(32, 64, 3, 1)
        s.fc1 = nn.Linear(64 * 6 * 6, 100); s.fc2 = nn.Linear(100, 10)

    def forward(s, x):
        x = F.relu(s.conv1(x)); x = F.relu(s.conv2(x))
        return s.fc2(F.relu(s.fc1(torch.flatten(F.avg_pool2d(x, 4), 1))))


def timed(fn, reps, inner=1):
    """Seconds per call of fn: best and median over `reps` timings of `inner` calls."""
    fn()  # warm-up (allocator, kernel selection)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner): fn()
        ts.append((time.perf_counter() - t) / inner)
    return min(ts), statistics.median(ts)


def blas_core():
    """The OpenBLAS kernel family PyTorch's BLAS calls (nn.Linear) use; convolutions use oneDNN."""
    try:
        f = ctypes.CDLL("libblas.so.3").openblas_get_corename; f.restype = ctypes.c_char_p
        return f().decode()
    except (OSError, AttributeError):
        return "not OpenBLAS"


def vm_hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024.0
    return float("nan")


def train_setup(batch, n_data):
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n_data, 1, 28, 28, generator=g); Y = torch.randint(0, 10, (n_data,), generator=g)
    m = Net().train(); opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    state = {"i": 0}

    def step():
        i = state["i"]; state["i"] = (i + batch) % (n_data - batch + 1)
        x, y = X[i:i + batch], Y[i:i + batch]
        opt.zero_grad(); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step()
        return loss.item()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: proves the script runs")
    ap.add_argument("--peak-rss", action="store_true", help="only a training run, then print its VmHWM")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    B, B_INF = (4, 8) if a.smoke else (64, 256)
    steps = 2 if a.smoke else 10

    if a.peak_rss:  # a training run in its own process: 100 steps of batch 64 over 6,400 images
        step = train_setup(B, 100 * B)
        for _ in range(5 if a.smoke else 100): step()
        print(json.dumps({"impl": "torch", "threads": a.threads, "peak_rss_mb": vm_hwm_mb()}))
        return

    r = {"impl": "torch", "version": torch.__version__, "threads": a.threads, "blas_core": blas_core()}
    step = train_setup(B, 100 * B)
    for _ in range(2): step()
    best, med = timed(lambda: [step() for _ in range(steps)], a.reps)
    r["train_sps"], r["train_sps_median"] = steps * B / best, steps * B / med

    m = Net().eval(); g = torch.Generator().manual_seed(1)
    xb = torch.rand(B_INF, 1, 28, 28, generator=g); x1 = xb[:1].clone()
    with torch.no_grad():
        best, med = timed(lambda: m(xb), a.reps, 2)
        r["infer256_sps"], r["infer256_sps_median"] = B_INF / best, B_INF / med
        best, med = timed(lambda: m(x1), a.reps, 20 if a.smoke else 200)
        r["infer1_sps"], r["infer1_sps_median"] = 1 / best, 1 / med
        r["infer1_latency_us"] = best * 1e6

    # Single layers at the seed CNN's training shapes (batch 64), forward with
    # the graph recorded as in training, backward computing what training needs.
    def layer(name, mod, x):
        y = mod(x); gy = torch.randn_like(y)
        r[name + "_fwd_ms"] = timed(lambda: mod(x), a.reps, 5)[0] * 1e3
        ts = []  # backward alone: the forward that records the graph runs outside the timer
        for _ in range(a.reps + 1):
            mod.zero_grad(set_to_none=True); x.grad = None
            y = mod(x); t = time.perf_counter(); y.backward(gy); ts.append(time.perf_counter() - t)
        r[name + "_bwd_ms"] = min(ts[1:]) * 1e3
    torch.manual_seed(2)
    layer("conv1", nn.Conv2d(1, 32, 3), torch.rand(B, 1, 28, 28))                      # input needs no grad
    layer("conv2", nn.Conv2d(32, 64, 3), torch.rand(B, 32, 26, 26, requires_grad=True))
    layer("fc1", nn.Linear(2304, 100), torch.rand(B, 2304, requires_grad=True))
    layer("fc2", nn.Linear(100, 10), torch.rand(B, 100, requires_grad=True))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
