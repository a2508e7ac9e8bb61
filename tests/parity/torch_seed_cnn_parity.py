"""PyTorch parity of the seed CNN: logits, loss, gradients and weights after SGD steps.

Runs PyTorch 1.13 (Debian's python3-torch, /usr/bin/python3) and minidl's
seed_cnn_step on the same initial weights and batch (exchanged as safetensors
files written here by hand, so no extra Python package is needed) and fails if
any tensor differs by more than float32 rounding allows.

usage: torch_seed_cnn_parity.py PATH/TO/seed_cnn_step
"""
import json, os, struct, subprocess, sys, tempfile
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

DT = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "I8": np.int8}
NAME = {np.dtype(v): k for k, v in DT.items()}

def save_st(path, tensors):
    header, off, blobs = {}, 0, []
    for k, a in tensors.items():
        a = np.ascontiguousarray(a).reshape(np.shape(a))  # (ascontiguousarray makes 0-d arrays 1-d)
        header[k] = {"dtype": NAME[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes; blobs.append(a.tobytes())
    h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]

def load_st(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], DT[v["dtype"]]).reshape(v["shape"])
    return out

class Net(nn.Module):  # the seed CNN exactly as in shared/reference/torch_seed_cnn.py
    def __init__(s, bn):
        super().__init__()
        s.conv1 = nn.Conv2d(1, 32, 3, 1); s.conv2 = nn.Conv2d(32, 64, 3, 1)
        s.bn1 = nn.BatchNorm2d(32) if bn else nn.Identity(); s.bn2 = nn.BatchNorm2d(64) if bn else nn.Identity()
        s.fc1 = nn.Linear(64 * 6 * 6, 100); s.fc2 = nn.Linear(100, 10)
    def forward(s, x):
        x = F.relu(s.bn1(s.conv1(x))); x = F.relu(s.bn2(s.conv2(x)))
        x = torch.flatten(F.avg_pool2d(x, 4), 1)
        return s.fc2(F.relu(s.fc1(x)))

def idx(path):
    import gzip
    b = gzip.open(path).read(); nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)

DATA = os.environ.get("MINIDL_DATA", "/usr/share/datasets/fashion-mnist")
IMAGES = idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"))
LABELS = idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz"))

def rel_err(a, b):
    a = a.astype(np.float64); b = b.astype(np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12)) if b.size else 0.0

def tie_gradients(bn, init, x, y, max_ties=6):
    """MASK TIES: float64 first-step gradients with every ReLU input that lies
    within float32 rounding of 0 taken both ways. Such an input's sign in float32
    depends on the summation order: any two float32 implementations may round it
    to opposite sides, and the gradient then differs by that element's upstream
    gradient -- legitimately, and more than the tolerance when the element is an
    active one (measured: seed 1, bn=False, conv2 output (1, 11, 16, 6) is
    +1.09e-8 in float64, +1.04e-8 in PyTorch float32, below one float32 ulp of
    the layer's values (1.4e-7); Winograd's other summation order rounds it below
    0, and conv2's gradients then differ from PyTorch's by 2.9e-4 in norm). Ties:
    |z| <= 1e-6 max|z| of the layer in float64 (~8 ulps of its largest value);
    the max_ties smallest are enumerated, 2^k float64 gradient sets."""
    net = Net(bn).double(); net.load_state_dict({k: torch.tensor(v) for k, v in init.items()}); net.train()
    x = x.double()
    def forward(flips):
        zs, a = [], x
        for conv, norm in ((net.conv1, net.bn1), (net.conv2, net.bn2)):
            z = norm(conv(a)); zs.append(z); m = (z > 0).double()
            for (layer, i) in flips:
                if layer == len(zs) - 1: m.view(-1)[i] = 1.0 - m.view(-1)[i]
            a = z * m.detach()
        z = net.fc1(torch.flatten(F.avg_pool2d(a, 4), 1)); zs.append(z); m = (z > 0).double()
        for (layer, i) in flips:
            if layer == 2: m.view(-1)[i] = 1.0 - m.view(-1)[i]
        return net.fc2(z * m.detach()), zs
    with torch.no_grad():
        _, zs = forward([])
    ties = []
    for layer, z in enumerate(zs):
        v = z.abs().flatten(); band = 1e-6 * float(v.max())
        ties += [(float(v[i]), layer, int(i)) for i in torch.nonzero(v <= band).flatten()]
    ties = [(l, i) for _, l, i in sorted(ties)[:max_ties]]
    out = []
    for bits in range(1, 1 << len(ties)):
        flips = [t for b, t in enumerate(ties) if bits >> b & 1]
        net.zero_grad(); logits, _ = forward(flips); F.cross_entropy(logits, y).backward()
        out.append((flips, {"grad." + k: p.grad.numpy().copy() for k, p in net.named_parameters()}))
    return out

def grad_errors(got, ref, grads, bn):
    """Per-tensor and total gradient errors in norm (see run())."""
    gnorm = np.sqrt(sum(np.sum(ref[k].astype(np.float64) ** 2) for k in grads))
    errs = {}
    for k in grads:
        # A conv bias followed by BatchNorm has gradient exactly 0 in exact
        # arithmetic (BN subtracts the channel mean): both sides hold
        # rounding noise, measured against the whole gradient's norm.
        zero = bn and k in ("grad.conv1.bias", "grad.conv2.bias")
        r = gnorm if zero else np.linalg.norm(ref[k].ravel().astype(np.float64))
        errs[k] = float(np.linalg.norm((got[k] - ref[k]).ravel().astype(np.float64)) / r)
    total = float(np.sqrt(sum(np.sum((got[k] - ref[k]).astype(np.float64) ** 2) for k in grads)) / gnorm)
    return errs, total

def run(tool, bn, steps, lr, momentum, wd, nesterov, seed, tol):
    torch.manual_seed(seed)
    net = Net(bn); net.train()
    # A real batch: Fashion-MNIST training images (pixel/255) from a seeded offset.
    start = int(torch.randint(0, 60000 - 64, (1,)))
    x = torch.tensor(IMAGES[start:start + 64], dtype=torch.float32).unsqueeze(1) / 255.
    y = torch.tensor(LABELS[start:start + 64], dtype=torch.long)
    init = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    with tempfile.TemporaryDirectory() as d:
        fin, fout = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
        save_st(fin, dict(init, x=x.numpy(), y=y.numpy()))
        subprocess.run([tool, str(int(bn)), str(steps), str(lr), str(momentum), str(wd), str(int(nesterov)), fin, fout],
                       check=True)
        got = load_st(fout)
    want = {}
    def train(net, x):
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=wd, nesterov=nesterov)
        for s in range(steps):
            opt.zero_grad(); logits = net(x); loss = F.cross_entropy(logits, y); loss.backward()
            if s == 0 and x.dtype == torch.float32:
                want["logits"] = logits.detach().numpy(); want["loss"] = loss.detach().numpy()
                want.update({"grad." + k: p.grad.numpy().copy() for k, p in net.named_parameters()})
            opt.step()
        return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    want.update({"final." + k: v for k, v in train(net, x).items()})
    # The exact trajectory (float64 from the same float32 start), see MULTI-STEP below.
    net64 = Net(bn).double(); net64.load_state_dict({k: torch.tensor(v) for k, v in init.items()}); net64.train()
    exact = train(net64, x.double())
    params = [k for k, _ in net.named_parameters()]
    moved = np.sqrt(sum(np.sum((exact[k] - init[k]) ** 2) for k in params))
    assert set(want) == set(got), f"keys differ: {sorted(set(want) ^ set(got))}"
    # Gradients are compared in norm (||a - b|| / ||b|| per tensor): a ReLU
    # input within float32 rounding of 0 legitimately flips its mask between
    # two float32 implementations, which a per-element maximum would report
    # as a large error. Real images (not uniform noise) keep such ties rare.
    grads = [k for k in want if k.startswith("grad.")]
    gerr, total = grad_errors(got, want, grads, bn)
    tie_note = ""
    if total > tol or max(gerr.values()) > tol:  # a ReLU tie rounded the other way? (MASK TIES)
        for flips, alt in tie_gradients(bn, init, x, y):
            aerr, atotal = grad_errors(got, alt, grads, bn)
            if atotal <= tol and max(aerr.values()) <= tol:
                gerr, total = aerr, atotal
                tie_note = f" (against the float64 gradients with the ReLU tie(s) {flips} (layer, element) rounded the other way)"
                break
    worst, bad = 0.0, []
    for k in want:
        note = ""
        if want[k].dtype == np.int64:
            e = 0.0 if np.array_equal(want[k], got[k]) else 1.0
        elif k.startswith("grad."):
            e, note = gerr[k], tie_note
        elif steps > 1 and k[len("final."):] in params:
            # MULTI-STEP: after the first step both float32 runs train on
            # slightly different weights, so a ReLU input within rounding of 0
            # can flip its mask in one and not the other; the flip moves one
            # parameter by lr*(1+momentum)*(that element's upstream gradient),
            # tiny next to the update as a whole but not next to a tensor that
            # barely moved (bn1.bias starts at 0). Measured on an AMD Zen 3
            # (AVX2: OpenBLAS GEMMs): seed 4, step 3, bn1 channel 19 has one
            # output at +9.7e-9 in float64 -- below one float32 ulp of the conv
            # output (3e-8) -- which minidl and PyTorch float32 started from
            # minidl's step-2 weights both round below 0; bn1.bias's step-3
            # gradient then differs by exactly that element's upstream gradient
            # (1.356e-5), 4.9e-4 of max|bn1.bias| element-wise. So trained
            # parameters are compared, like the gradients, in norm: the
            # distance to the exact (float64) trajectory over the distance the
            # whole model moved, ||minidl - exact|| / ||exact - init||; PyTorch
            # float32 itself is ~1e-6..1e-5 from it by this measure.
            k0 = k[len("final."):]
            e = float(np.linalg.norm((got[k].astype(np.float64) - exact[k0]).ravel()) / moved)
            e32 = float(np.linalg.norm((want[k].astype(np.float64) - exact[k0]).ravel()) / moved)
            note = f" from the exact trajectory (PyTorch float32: {e32:.2e})"
        else:
            e = rel_err(got[k], want[k])
        worst = max(worst, e)
        if e > tol: bad.append(f"{k}: relative error {e:.2e}{note}")
    if total > tol: bad.append(f"all gradients: relative error {total:.2e}")
    tag = f"bn={bn} steps={steps} lr={lr} momentum={momentum} wd={wd} nesterov={nesterov}"
    print(f"{tag}: {len(want)} tensors, worst relative error {worst:.2e}, all gradients {total:.2e} (tolerance {tol:.0e})"
          f"{tie_note}", flush=True)
    return bad

if __name__ == "__main__":
    torch.set_num_threads(1)
    tool = sys.argv[1]
    # Relative error = max|minidl - torch| / max|torch| per tensor. Both sides
    # are float32 with different summation orders (OpenBLAS vs oneDNN/MKL-DNN
    # GEMMs, im2col vs direct convolution), so ~1e-6..1e-5 is expected; 1e-4
    # is the brief's bar. After several SGD steps the trained parameters are
    # compared with a float64 run instead (see MULTI-STEP in run()).
    failures = []
    failures += run(tool, False, 1, 0.01, 0.0, 0.0, False, 1, 1e-4)
    failures += run(tool, True, 1, 0.01, 0.0, 0.0, False, 2, 1e-4)
    failures += run(tool, False, 3, 0.05, 0.9, 5e-4, False, 3, 1e-4)
    failures += run(tool, True, 3, 0.05, 0.9, 5e-4, True, 4, 1e-4)
    if failures:
        print("PARITY FAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
    print("seed CNN matches PyTorch")
