"""What PyTorch 1.13's onednn int8 engine computes on this CPU, layer by layer (issue 11).

The seed CNN of tests/parity/torch_quant_parity.py (briefly trained by PyTorch, or --init
FILE), quantized by PyTorch (eager PTQ, onednn, MinMax activations, per-channel symmetric
weights in [-127, 127]). Each quantized layer's output is compared with three ways of doing
its arithmetic from the layer's own uint8 input:
  int32 bias   round((sum + round(b / (s_x s_w))) * s_x s_w / s_y)  -- the scheme (Jacob et al.,
               ONNX QLinearConv, TFLite), minidl's default
  float bias   round((sum * s_x s_w + b) / s_y)                     -- minidl's QConfig::bias_fraction
  saturating   the float bias with the linear layers' u8*s8 sums taken as vpmaddubsw does on
               AVX2: adjacent products summed in pairs, saturated to int16
and the whole network's output with each rule chained from the input.

usage: /usr/bin/python3 bench/int8_parity_diagnosis.py [--bn] [--full-range] [--init FP32.safetensors] [--test N]
"""
import os, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
import numpy as np, torch, torch.nn.functional as F
import torch_quant_parity as P
from torch_seed_cnn_parity import load_st

def quantized_model(bn, rr, init):
    path = init or os.path.join(tempfile.mkdtemp(), "fp32.safetensors")
    if not init: P.fp32_weights(path, bn)
    sd = {k: torch.from_numpy(v.copy()) for k, v in load_st(path).items()}
    bn = any(k.startswith("bn1.") for k in sd)
    return P.torch_quantized(sd, bn, 512, rr), bn

def saturating_sums(x, w):
    """x u8 [N, K] . w s8 [C, K]: vpmaddubsw's int16-saturated pair sums, then exact int32."""
    K = x.shape[1] + x.shape[1] % 2
    xp = np.zeros((x.shape[0], K), np.int64); xp[:, :x.shape[1]] = x
    wp = np.zeros((w.shape[0], K), np.int64); wp[:, :w.shape[1]] = w
    out = np.empty((x.shape[0], w.shape[0]), np.int64)
    for c in range(w.shape[0]):
        pr = xp * wp[c][None]; out[:, c] = np.clip(pr[:, 0::2] + pr[:, 1::2], -32768, 32767).sum(1)
    return out

def layer(L, x, z, s, conv, rule):
    """One quantized conv/linear on codes x (zero point z, scale s) by `rule`."""
    w = L.weight(); wi = w.int_repr().numpy().astype(np.int64); ws = w.q_per_channel_scales().numpy().astype(np.float64)
    b = L.bias().detach().numpy().astype(np.float64); so, zo = L.scale, L.zero_point
    sh = (None, slice(None), None, None) if conv else (None, slice(None))
    if conv: acc = F.conv2d(torch.tensor(x - z, dtype=torch.float64), torch.tensor(wi, dtype=torch.float64)).numpy()
    elif rule == "saturating": acc = saturating_sums(x, wi) - z * wi.sum(1)[None]
    else: acc = (x - z) @ wi.T
    if rule == "int32 bias": y = np.floor((acc + np.rint(b / (s * ws))[sh]) * (s * ws / so)[sh] + 0.5)
    else: y = np.rint((acc * (s * ws)[sh] + b[sh]) / so)
    return np.clip(y + zo, zo if "ReLU" in type(L).__name__ else 0, 255).astype(np.int64), zo, so

def pool(x, z):
    N, C, H, W = x.shape; k = H // 6
    return np.clip(np.rint((x - z).reshape(N, C, 6, k, 6, k).sum((3, 5)) / (k * k)) + z, 0, 255).reshape(N, -1)

def main():
    a = sys.argv[1:]; rr = "--full-range" not in a
    init = a[a.index("--init") + 1] if "--init" in a else None
    n = int(a[a.index("--test") + 1]) if "--test" in a else 2000
    torch.set_num_threads(2)
    m, bn = quantized_model("--bn" in a, rr, init)
    T = torch.tensor(P.TEST[:n], dtype=torch.float32).unsqueeze(1) / 255.
    rules = ["int32 bias", "float bias", "saturating"]
    print(f"{'BN' if bn else 'no BN'}, {'reduce_range' if rr else 'full range'}, {n} test images: "
          "share of PyTorch's uint8 outputs equal to each rule")
    with torch.no_grad():
        q = m.quant(T); chained = {r: (q.int_repr().numpy().astype(np.int64), q.q_zero_point(), q.q_scale()) for r in rules}
        for name, conv in [("conv1", True), ("conv2", True), ("fc1", False), ("fc2", False)]:
            L = getattr(m, name); out = L(q); tc = out.int_repr().numpy()
            x = q.int_repr().numpy().astype(np.int64)
            print(f"  {name:6s} (input codes {x.min()}..{x.max()}): " + ", ".join(
                f"{r} {np.mean(layer(L, x, q.q_zero_point(), q.q_scale(), conv, r)[0] == tc):.4%}" for r in rules))
            for r in rules:
                cx, cz, cs = chained[r]; chained[r] = layer(L, cx, cz, cs, conv, r)
                if name == "conv2": chained[r] = (pool(chained[r][0], chained[r][1]), chained[r][1], chained[r][2])
            q = torch.flatten(m.pool(out), 1) if name == "conv2" else out
        tc = q.int_repr().numpy()
        print("  network, each rule chained from the input: " + ", ".join(f"{r} {np.mean(chained[r][0] == tc):.4%}" for r in rules))

if __name__ == "__main__":
    main()
