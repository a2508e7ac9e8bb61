"""PyTorch 1.13 twin of examples/train_seed_cnn: the same model, recipe and flags.

Used to compare accuracy and speed side by side on the same recipe, and (with
--init/--no-shuffle) to replay exactly the loop minidl runs.
Run with Debian's python3-torch: /usr/bin/python3 bench/torch_train_seed_cnn.py --bn --epochs 10
"""
import argparse, gzip, json, math, os, struct, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

def idx(path):
    b = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    nd = b[3]; dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)

def load_st(path):
    DT = {"F32": np.float32, "I64": np.int64}
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: torch.from_numpy(np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
            DT[v["dtype"]]).reshape(v["shape"]).copy()) for k, v in h.items() if k != "__metadata__"}

class Net(nn.Module):
    def __init__(s, bn):
        super().__init__()
        s.conv1 = nn.Conv2d(1, 32, 3, 1); s.conv2 = nn.Conv2d(32, 64, 3, 1)
        s.bn1 = nn.BatchNorm2d(32) if bn else nn.Identity(); s.bn2 = nn.BatchNorm2d(64) if bn else nn.Identity()
        s.fc1 = nn.Linear(64 * 6 * 6, 100); s.fc2 = nn.Linear(100, 10)
    def forward(s, x):
        x = F.relu(s.bn1(s.conv1(x))); x = F.relu(s.bn2(s.conv2(x)))
        return s.fc2(F.relu(s.fc1(torch.flatten(F.avg_pool2d(x, 4), 1))))

def augment(x, g):  # random crop with 2 pixels of zero padding, horizontal flip with p = 0.5
    B = x.shape[0]; p = F.pad(x, (2, 2, 2, 2)); out = torch.empty_like(x)
    tops = torch.randint(0, 5, (B,), generator=g); lefts = torch.randint(0, 5, (B,), generator=g)
    flips = torch.rand(B, generator=g) < 0.5
    for i in range(B):
        c = p[i, :, tops[i]:tops[i] + 28, lefts[i]:lefts[i] + 28]
        out[i] = c.flip(-1) if flips[i] else c
    return out

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--epochs", type=int, default=10); ap.add_argument("--batch-size", type=int, default=64)
ap.add_argument("--lr", type=float, default=0.02); ap.add_argument("--momentum", type=float, default=0.9)
ap.add_argument("--nesterov", action="store_true"); ap.add_argument("--weight-decay", type=float, default=0.0)
ap.add_argument("--schedule", choices=["none", "step", "cosine"], default="none"); ap.add_argument("--step-size", type=int, default=5)
ap.add_argument("--bn", action="store_true"); ap.add_argument("--normalize", action="store_true"); ap.add_argument("--augment", action="store_true")
ap.add_argument("--seed", type=int, default=0); ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--train-limit", type=int, default=0); ap.add_argument("--init"); ap.add_argument("--no-shuffle", action="store_true")
a = ap.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed); g = torch.Generator().manual_seed(a.seed)
pre = lambda s: os.path.join(a.data, s + ("" if os.path.exists(os.path.join(a.data, s)) else ".gz"))
Xtr = torch.tensor(idx(pre("train-images-idx3-ubyte")), dtype=torch.float32).unsqueeze(1) / 255.
Ytr = torch.tensor(idx(pre("train-labels-idx1-ubyte")), dtype=torch.long)
Xte = torch.tensor(idx(pre("t10k-images-idx3-ubyte")), dtype=torch.float32).unsqueeze(1) / 255.
Yte = torch.tensor(idx(pre("t10k-labels-idx1-ubyte")), dtype=torch.long)
if a.train_limit: Xtr, Ytr = Xtr[:a.train_limit], Ytr[:a.train_limit]
if a.normalize:
    mu, sd = Xtr.mean().item(), Xtr.std(unbiased=False).item(); Xtr = (Xtr - mu) / sd; Xte = (Xte - mu) / sd
m = Net(a.bn)
if a.init: m.load_state_dict(load_st(a.init))
opt = torch.optim.SGD(m.parameters(), lr=a.lr, momentum=a.momentum, nesterov=a.nesterov, weight_decay=a.weight_decay)
sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, a.epochs)) if a.schedule == "cosine" else
         torch.optim.lr_scheduler.StepLR(opt, a.step_size, 0.1) if a.schedule == "step" else None)
def acc():
    m.eval(); c = 0
    with torch.no_grad():
        for i in range(0, len(Xte), 256): c += (m(Xte[i:i + 256]).argmax(1) == Yte[i:i + 256]).sum().item()
    return c / len(Xte)
print(f"torch {torch.__version__}, {a.threads} threads, recipe: {vars(a)}")
for ep in range(a.epochs):
    m.train(); t = time.perf_counter(); n = len(Xtr)
    perm = torch.arange(n) if a.no_shuffle else torch.randperm(n, generator=g)
    tl = tc = 0
    for i in range(0, n, a.batch_size):
        j = perm[i:i + a.batch_size]; x = Xtr[j]
        if a.augment: x = augment(x, g)
        out = m(x); loss = F.cross_entropy(out, Ytr[j]); opt.zero_grad(); loss.backward(); opt.step()
        tl += loss.item() * len(j); tc += (out.argmax(1) == Ytr[j]).sum().item()
    dt = time.perf_counter() - t; lr = opt.param_groups[0]["lr"]
    if sched: sched.step()
    print(f"epoch {ep + 1}/{a.epochs}  loss {tl / n:.4f}  train_acc {tc / n:.4f}  test_acc {acc():.4f}  lr {lr:g}  {n / dt:.0f} samples/s", flush=True)
print(f"final test accuracy: {acc():.4f}")
