"""PyTorch 1.13 seed CNN inference for bench_int8_cnn: int8 (eager PTQ,
conv/linear+ReLU fused, onednn and qnnpack engines — as
shared/reference/torch_int8_fused.py) and fp32, batch 256 and 1, random weights.
Timed like minidl's side: process CPU time / threads, best of `reps`, so the
figures on a shared machine count only this process's time.
usage: /usr/bin/python3 torch_int8_cnn.py THREADS [REPS]
prints lines "torch <engine> bs<B>: <images/s> img/s <us> us"."""
import sys
import time

import torch
import torch.nn as nn

threads = int(sys.argv[1])
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(threads)
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.q = torch.ao.quantization.QuantStub()
        s.dq = torch.ao.quantization.DeQuantStub()
        s.conv1 = nn.Conv2d(1, 32, 3); s.r1 = nn.ReLU(); s.conv2 = nn.Conv2d(32, 64, 3); s.r2 = nn.ReLU()
        s.pool = nn.AvgPool2d(4); s.fc1 = nn.Linear(2304, 100); s.r3 = nn.ReLU(); s.fc2 = nn.Linear(100, 10)

    def forward(s, x):
        x = s.q(x)
        x = s.r2(s.conv2(s.r1(s.conv1(x))))
        x = s.pool(x).flatten(1)
        return s.dq(s.fc2(s.r3(s.fc1(x))))


def best_cpu(f):
    f()
    best = 1e9
    for _ in range(reps):
        t = time.process_time()
        f()
        best = min(best, (time.process_time() - t) / threads)
    return best


x = torch.rand(256, 1, 28, 28)
fp32 = Net().eval()
models = {"fp32": fp32}
for engine in ("onednn", "qnnpack"):
    m = Net().eval()
    m.load_state_dict(fp32.state_dict())
    torch.backends.quantized.engine = engine
    m.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    torch.ao.quantization.fuse_modules(m, [["conv1", "r1"], ["conv2", "r2"], ["fc1", "r3"]], inplace=True)
    torch.ao.quantization.prepare(m, inplace=True)
    m(x)
    torch.ao.quantization.convert(m, inplace=True)
    models[engine] = m
with torch.no_grad():
    for name, m in models.items():
        if name != "fp32":
            torch.backends.quantized.engine = name
        for bs in (256, 1):
            xb = x[:bs]
            n = 20 if bs == 1 else 1  # batch 1: 20 calls per timing
            t = best_cpu(lambda: [m(xb) for _ in range(n)]) / n
            print(f"torch {name} bs{bs}: {bs / t:.0f} img/s {t * 1e6:.1f} us", flush=True)
