"""PyTorch parity of minidl's kl_div and distillation_loss (Hinton et al. 2015).

minidl (tests/parity/distill_dump.cpp) computes, on random logits, for
T in {1, 2, 4, 8, 20} and alpha in {0, 0.5, 0.9, 1}:
    alpha * T^2 * KL(softmax(zt/T) || softmax(zs/T)) + (1 - alpha) * CE(zs, y)
and its gradient w.r.t. zs; PyTorch 1.13 evaluates the textbook expression
    alpha * T*T * F.kl_div(F.log_softmax(zs/T, 1), F.softmax(zt/T, 1), reduction='batchmean')
    + (1 - alpha) * F.cross_entropy(zs, y)
on the same float32 numbers, in float64 (the exact value of what both compute;
PyTorch's own float32 result is printed beside it for scale). Loss values must
agree to 1e-6 and gradients to 1e-5 (absolute, scaled by max(1, |value|)).
kl_div itself is compared with F.kl_div(..., reduction='batchmean'), plain and
log_target, values and gradients w.r.t. both arguments, with a zero target.

usage: torch_distill_parity.py PATH/TO/distill_dump   (VERBOSE=1 prints every case)
"""
import os, subprocess, sys, tempfile
import numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(__file__))
from torch_seed_cnn_parity import load_st

with tempfile.TemporaryDirectory() as d:
    subprocess.run([sys.argv[1], d], check=True)
    c = {k: v.copy() for k, v in load_st(d + "/cases.safetensors").items()}

def torch_loss(zs, zt, y, T, alpha):
    soft = F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean")
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(zs, y)

def rel(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / np.maximum(1.0, np.abs(b))))

failures, worst = [], {"loss": 0.0, "grad": 0.0, "loss_vs_torch_f32": 0.0}
cases = sorted({k.split(".")[0] for k in c if k.startswith("case")}, key=lambda s: int(s[4:]))
for name in cases:
    g = lambda f: c[name + "." + f]
    T, alpha = float(g("T")), float(g("alpha"))
    y = torch.from_numpy(g("y"))
    zs = torch.from_numpy(g("zs")).double().requires_grad_()
    ref = torch_loss(zs, torch.from_numpy(g("zt")).double(), y, T, alpha)
    ref.backward()
    f32 = torch_loss(torch.from_numpy(g("zs")), torch.from_numpy(g("zt")), y, T, alpha).item()
    el, eg = rel(g("loss"), ref.item()), rel(g("grad"), zs.grad.numpy())
    worst["loss"], worst["grad"] = max(worst["loss"], el), max(worst["grad"], eg)
    worst["loss_vs_torch_f32"] = max(worst["loss_vs_torch_f32"], rel(g("loss"), f32))
    what = f"{name} (N={g('zs').shape[0]}, C={g('zs').shape[1]}, T={T:g}, alpha={alpha:g})"
    if os.environ.get("VERBOSE"): print(f"{what}: loss error {el:.2e}, gradient {eg:.2e}")
    if el > 1e-6: failures.append(f"{what}: loss {float(g('loss')):.8g} vs PyTorch {ref.item():.8g} (error {el:.2e})")
    if eg > 1e-5: failures.append(f"{what}: gradient error {eg:.2e}")

for p, log_target in [("kl.", False), ("kl_log_target.", True)]:
    x = torch.from_numpy(c[p + "x"]).double().requires_grad_()
    t = torch.from_numpy(c[p + "t"]).double().requires_grad_()
    ref = F.kl_div(x, t, reduction="batchmean", log_target=log_target)
    ref.backward()
    for what, mine, theirs, tol in [("loss", c[p + "loss"], ref.item(), 1e-6),
                                    ("grad w.r.t. log_input", c[p + "grad_x"], x.grad.numpy(), 1e-5),
                                    ("grad w.r.t. target", c[p + "grad_t"], t.grad.numpy(), 1e-5)]:
        e = rel(mine, theirs)
        if e > tol: failures.append(f"kl_div log_target={log_target}: {what} error {e:.2e} > {tol:g}")

print(f"{len(cases)} distillation cases: worst loss error {worst['loss']:.2e} (tolerance 1e-6), "
      f"gradient {worst['grad']:.2e} (1e-5); against PyTorch's float32 evaluation {worst['loss_vs_torch_f32']:.2e}")
if failures:
    print("DISTILLATION PARITY FAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("distillation_loss and kl_div match PyTorch")
