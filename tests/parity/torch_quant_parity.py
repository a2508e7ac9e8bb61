"""PyTorch parity of minidl's int8 post-training quantization (live, PyTorch 1.13).

The same fp32 seed CNN (trained briefly here by PyTorch, or --init FILE) is quantized by
both: eager-mode PTQ in PyTorch with Conv/Linear+ReLU fused (and BatchNorm folded) on the
onednn engine, and compress::prepare/calibrate/convert in minidl (quant_dump), calibrated
on the same first N training images. Observers on both sides:
  activations  MinMaxObserver(dtype=quint8, reduce_range=False)  — [0, 255]; PyTorch's
               default onednn qconfig also uses reduce_range=False (fbgemm's uses True);
  weights      PerChannelMinMaxObserver(dtype=qint8, qscheme=per_channel_symmetric,
               quant_min=-127, quant_max=127)  — minidl's symmetric range (PyTorch's
               default [-128, 127] would give scale max|w|/127.5 and allow -128).
Checks: scales and zero points of every layer equal (relative 1e-6), int8 weights
identical, weight scales equal, the uint8 outputs of the last layer equal for >= 99% of
the values and within 1 step for all, predicted classes equal for >= 99.9% of the 10,000
test images (--test N: the first N; the sanitized tree uses 2,000: its instrumented int8
kernels are slow).

Two things PyTorch's onednn engine does on this AVX2 (no VNNI) CPU decide how the
comparison is set up, both measured layer by layer (bench/README, "int8 parity"):
- it adds the bias in float after scaling the int32 sum: (acc*s_x*s_w + b)/s_y, where the
  scheme (Jacob et al., ONNX QLinearConv, TFLite) rounds b to int32 at s_x*s_w first. Per
  layer that moves 0.01-0.03% of the outputs by a step; over four layers ~2.3% of the
  seed CNN's outputs with BatchNorm folded (0.3% without). So minidl is converted twice:
  with the int32 bias (the default, checked bit for bit against the integer arithmetic
  written out below, and within one step of PyTorch) and with QConfig::bias_fraction,
  which keeps the fraction the int32 rounding drops, in integers (Requant::bias_frac):
  that one is held to the issue's bars against PyTorch.
- its u8*s8 inner product (vpmaddubsw) saturates 16-bit pair sums when activations use all
  of [0, 255]: fc2 then departs from the exact sums on ~1.2% of its outputs. oneDNN leaves
  avoiding that to the user (7-bit activations, its int8 guide), so the observers use
  reduce_range (both sides; --full-range to see it).

usage: torch_quant_parity.py PATH/TO/quant_dump [--init FP32.safetensors] [--calib N] [--test N]
"""
import os, subprocess, sys, tempfile
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from torch.ao import quantization as tq
from torch_seed_cnn_parity import DATA, Net, IMAGES, LABELS, idx, load_st, save_st

torch.backends.quantized.engine = "onednn"
torch.set_num_threads(2)
TEST = idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))

class QNet(nn.Module):
    def __init__(s, bn):
        super().__init__()
        s.quant = tq.QuantStub(); s.dequant = tq.DeQuantStub()
        s.conv1 = nn.Conv2d(1, 32, 3); s.bn1 = nn.BatchNorm2d(32) if bn else nn.Identity(); s.r1 = nn.ReLU()
        s.conv2 = nn.Conv2d(32, 64, 3); s.bn2 = nn.BatchNorm2d(64) if bn else nn.Identity(); s.r2 = nn.ReLU()
        s.pool = nn.AvgPool2d(4); s.fc1 = nn.Linear(2304, 100); s.r3 = nn.ReLU(); s.fc2 = nn.Linear(100, 10)
    def codes(s, x):  # the last layer's quantized output
        x = s.r2(s.bn2(s.conv2(s.r1(s.bn1(s.conv1(s.quant(x)))))))
        return s.fc2(s.r3(s.fc1(torch.flatten(s.pool(x), 1))))
    def forward(s, x): return s.dequant(s.codes(x))

def fp32_weights(path, bn):
    """A briefly trained fp32 model (1 epoch, 4,000 images): weights with real structure."""
    torch.manual_seed(0); m = Net(bn); opt = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9)
    X = torch.tensor(IMAGES[:4000], dtype=torch.float32).unsqueeze(1) / 255.; Y = torch.tensor(LABELS[:4000], dtype=torch.long)
    for i in range(0, 4000, 64):
        loss = F.cross_entropy(m(X[i:i + 64]), Y[i:i + 64]); opt.zero_grad(); loss.backward(); opt.step()
    save_st(path, {k: v.detach().numpy() for k, v in m.state_dict().items() if not isinstance(v, nn.Identity)})

def main():
    args = sys.argv[1:]; tool = args[0]
    init = args[args.index("--init") + 1] if "--init" in args else None
    calib = int(args[args.index("--calib") + 1]) if "--calib" in args else 512
    n_test = int(args[args.index("--test") + 1]) if "--test" in args else len(TEST)
    rr = "--full-range" not in args
    variants = [None] if init else [False, True]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for bn in variants:
            path = init or os.path.join(tmp, "fp32.safetensors")
            if not init: fp32_weights(path, bn)
            sd = {k: torch.from_numpy(v.copy()) for k, v in load_st(path).items()}
            bn = any(k.startswith("bn1.") for k in sd)
            mine = {}
            for frac in (False, True):
                d = os.path.join(tmp, "fraction" if frac else "int32"); os.makedirs(d, exist_ok=True)
                subprocess.run([tool, path, str(calib), d] + (["reduce_range"] if rr else []) +
                               (["bias_fraction"] if frac else []) + [str(n_test)], check=True)
                mine[frac] = (load_st(os.path.join(d, "int8.safetensors")), load_st(os.path.join(d, "outputs.safetensors")))
            failures += compare(sd, bn, calib, rr, TEST[:n_test], mine)
    print("torch_quant_parity:", "FAILED" if failures else "passed"); return 1 if failures else 0

def exact_codes(q, T):
    """The scheme's integer arithmetic written out (int64 sums, double multipliers, round half
    up as minidl's requantize, half-even pooling): what an exact int8 engine must output.
    A layer with a bias fraction (bias_frac, Q31) adds it to the sum before rounding."""
    def quant(x, s, z): return np.clip(np.rint(x * np.float32(1 / np.float32(s))) + z, 0, 255).astype(np.int64)
    x = quant(T, q["quant.scale"][0], q["quant.zero_point"][0]); z, s = int(q["quant.zero_point"][0]), float(q["quant.scale"][0])
    def layer(x, z, s, name, conv, relu):
        w = q[name + ".weight"].astype(np.int64); b = q[name + ".bias"].astype(np.int64); ws = q[name + ".weight_scale"].astype(np.float64)
        if name + ".bias_frac" in q: b = b + q[name + ".bias_frac"].astype(np.float64) / 2**31
        so, zo = float(q[name + ".scale"][0]), int(q[name + ".zero_point"][0])
        if conv:
            acc = F.conv2d(torch.tensor(x - z, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)).numpy().round().astype(np.int64)
            acc = acc + b[None, :, None, None]; M = (s * ws / so)[None, :, None, None]
        else:
            acc = (x - z) @ w.T + b[None]; M = (s * ws / so)[None]
        return np.clip(np.floor(acc * M + 0.5) + zo, zo if relu else 0, 255).astype(np.int64), zo, so
    h, z, s = layer(x, z, s, "conv1", True, True); h, z, s = layer(h, z, s, "conv2", True, True)
    N, C, H, W = h.shape; k = H // 6
    p = (h - z).reshape(N, C, 6, k, 6, k).sum((3, 5)); d = k * k; qq = np.floor_divide(p, d); r = p - qq * d
    qq = qq + ((2 * r > d) | ((2 * r == d) & (qq % 2 == 1))); h = np.clip(qq + z, 0, 255).reshape(N, -1)
    h, z, s = layer(h, z, s, "fc1", False, True); return layer(h, z, s, "fc2", False, False)[0]

def torch_quantized(sd, bn, calib, rr):
    """PyTorch's eager PTQ of the fp32 state dict sd (onednn; observers as in the docstring),
    calibrated on the first `calib` training images in batches of 128."""
    m = QNet(bn); m.load_state_dict(sd, strict=True); m.eval()
    fuse = [["conv1", "bn1", "r1"], ["conv2", "bn2", "r2"]] if bn else [["conv1", "r1"], ["conv2", "r2"]]
    tq.fuse_modules(m, fuse + [["fc1", "r3"]], inplace=True)
    m.qconfig = tq.QConfig(activation=tq.MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=rr),
                           weight=tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                                                         quant_min=-127, quant_max=127))
    tq.prepare(m, inplace=True)
    X = torch.tensor(IMAGES[:calib], dtype=torch.float32).unsqueeze(1) / 255.
    with torch.no_grad():
        for i in range(0, calib, 128): m(X[i:i + 128])
    return tq.convert(m, inplace=True)

def compare(sd, bn, calib, rr, test, mine):
    tag = ("BN" if bn else "no BN") + (", reduce_range" if rr else ", full range")
    m = torch_quantized(sd, bn, calib, rr)
    T = torch.tensor(test, dtype=torch.float32).unsqueeze(1) / 255.
    with torch.no_grad():
        q = torch.cat([m.codes(T[i:i + 500]) for i in range(0, len(T), 500)])
    tc = q.int_repr().numpy().astype(np.int64); tpred = q.dequantize().argmax(1).numpy()
    Tn = T.numpy(); failures = 0
    for frac, (qd, out) in mine.items():
        bad = []
        def close(name, a, b, rel=1e-6):
            a = np.asarray(a, np.float64); b = np.asarray(b, np.float64)
            if a.shape != b.shape or np.any(np.abs(a - b) > rel * np.abs(b) + 1e-30): bad.append(f"{name}: minidl {a.ravel()[:4]} torch {b.ravel()[:4]}")
        close("quant.scale", qd["quant.scale"], [m.quant.scale.item()]); close("quant.zero_point", qd["quant.zero_point"], [m.quant.zero_point.item()], 0)
        for l in ["conv1", "conv2", "fc1", "fc2"]:
            tl = getattr(m, l)
            close(f"{l}.scale", qd[f"{l}.scale"], [tl.scale]); close(f"{l}.zero_point", qd[f"{l}.zero_point"], [tl.zero_point], 0)
            w = tl.weight()
            close(f"{l}.weight_scale", qd[f"{l}.weight_scale"], w.q_per_channel_scales().numpy())
            if not np.array_equal(qd[f"{l}.weight"], w.int_repr().numpy()):
                bad.append(f"{l}.weight: {int(np.sum(qd[f'{l}.weight'] != w.int_repr().numpy()))} int8 values differ")
            if (f"{l}.bias_frac" in qd) != frac: bad.append(f"{l}.bias_frac is {'missing' if frac else 'present'}")
        mc = out["codes"].astype(np.int64)
        equal = float(np.mean(tc == mc)); worst = int(np.max(np.abs(tc - mc))); agree = float(np.mean(tpred == out["pred"]))
        # In chunks: the int64/float64 activations of 10,000 images at once take ~13 GB.
        ex = np.concatenate([exact_codes(qd, Tn[i:i + 500]) for i in range(0, len(Tn), 500)])
        mine_exact = float(np.mean(ex == mc)); torch_exact = float(np.mean(ex == tc))
        mode = "bias fraction" if frac else "int32 bias"
        print(f"[{tag}, {mode}] against the exact integer arithmetic: minidl equal {mine_exact:.4%}, PyTorch equal {torch_exact:.4%}")
        if mine_exact != 1.0: bad.append(f"minidl differs from the exact integer arithmetic on {1 - mine_exact:.4%} of the outputs")
        print(f"[{tag}, {mode}, {calib} calibration images] outputs equal to PyTorch {equal:.4%}, max |diff| {worst} step(s); "
              f"predictions agree {agree:.4%} of {len(T)}; qparams/weights mismatches: {len(bad)}")
        for b in bad[:10]: print("  MISMATCH", b)
        # With the bias fraction minidl computes PyTorch's arithmetic: the bars. With the
        # int32 bias (the scheme) it is the exact integer arithmetic everywhere (above) and
        # within one step of PyTorch, whose float bias moves 2-5% of the outputs (BN, trained
        # models: bench/README "int8 parity"), so only the step and the classes are bounded.
        eq_min, agree_min = (0.99, 0.999) if frac else (0.0, 0.995)
        ok = not bad and equal >= eq_min and worst <= 1 and agree >= agree_min
        if not ok: print(f"  FAILED: need >= {eq_min:.0%} equal, <= 1 step, >= {agree_min:.1%} same class, no mismatch")
        failures += 0 if ok else 1
    return failures

if __name__ == "__main__":
    sys.exit(main())
