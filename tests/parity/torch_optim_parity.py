"""PyTorch parity of minidl's Adam, AdamW (and SGD under OneCycleLR), OneCycleLR and LinearLR.

Feeds the same parameters and per-step gradients (random, of mixed scales, with
zeros, and a parameter without a gradient on some steps) to torch.optim
(PyTorch 1.13, Debian's python3-torch) and to minidl's optim_dump, and fails
if any parameter after any step, or the final optimizer state, differs by more
than 1e-6 relative; the schedules' lr (and cycled momentum) sequences must
agree to 1e-6 relative at every step.

usage: torch_optim_parity.py PATH/TO/optim_dump
"""
import os, subprocess, sys, tempfile
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_seed_cnn_parity import save_st, load_st, rel_err

TOL = 1e-6
failures = []

def check(name, got, want, tol=TOL):
    e = rel_err(np.asarray(got), np.asarray(want))
    status = "ok" if e <= tol else "FAIL"
    if e > tol: failures.append(name)
    print(f"{status:4} {name}: max rel err {e:.2e}")

def grads(rng, shapes, steps):
    """Per step, per parameter: a gradient (or None = no gradient at that step)."""
    out = []
    for k in range(steps):
        row = []
        for i, s in enumerate(shapes):
            if i == 2 and k % 3 == 1: row.append(None); continue  # skipped: its step count must not advance
            g = rng.standard_normal(s).astype(np.float32) * np.float32(10.0 ** rng.integers(-4, 2))
            g.reshape(-1)[::7] = 0  # zero gradients: v stays tiny, eps matters
            row.append(g)
        out.append(row)
    return out

def run_case(tool, kind, lr, b1, b2, eps, wd, amsgrad, sched, steps, seed):
    rng = np.random.default_rng(seed)
    shapes = [(7, 5), (5,), (3, 4)]
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = grads(rng, shapes, steps)
    tensors = {f"p{i}": p for i, p in enumerate(p0)}
    tensors["steps"] = np.array([steps], np.int64)
    for k, row in enumerate(gs):
        for i, g in enumerate(row):
            if g is not None: tensors[f"g{k}.{i}"] = g
    with tempfile.TemporaryDirectory() as d:
        fin, fout = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
        save_st(fin, tensors)
        subprocess.run([tool, "step", kind, repr(lr), repr(b1), repr(b2), repr(eps), repr(wd), str(int(amsgrad)),
                        sched, fin, fout], check=True)
        got = load_st(fout)
    params = [torch.nn.Parameter(torch.tensor(p)) for p in p0]
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=b1, weight_decay=wd)
    else:
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        opt = cls(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad)
    sch = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps) if sched == "onecycle" else None
    name = f"{kind}(lr={lr}, betas=({b1}, {b2}), eps={eps}, wd={wd}, amsgrad={amsgrad}, {sched})"
    lrs = []
    worst = 0.0
    for k, row in enumerate(gs):
        for p, g in zip(params, row):
            p.grad = None if g is None else torch.tensor(g)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sch: sch.step()
        for i, p in enumerate(params):
            e = rel_err(got[f"p{i}.{k}"], p.detach().numpy())
            worst = max(worst, e)
            if e > TOL: failures.append(f"{name} p{i} step {k}"); print(f"FAIL {name}: p{i} after step {k}: {e:.2e}")
    print(f"{'ok' if worst <= TOL else 'FAIL':4} {name}: {steps} steps, worst parameter rel err {worst:.2e}")
    check(name + " lr sequence", got["lr"], np.array(lrs))
    for i, p in enumerate(params):
        st = opt.state[p]
        keys = ["momentum_buffer"] if kind == "sgd" else ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
        for key in keys:
            check(f"{name} {key}{i}", got[f"{key}{i}"], st[key].numpy())

def run_onecycle(tool, total, max_lr, pct, three, cos, div, final_div):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct, three_phase=three,
                                            anneal_strategy="cos" if cos else "linear", div_factor=div,
                                            final_div_factor=final_div)
    lr, mom = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for _ in range(total):
        opt.step(); s.step()
        lr.append(opt.param_groups[0]["lr"]); mom.append(opt.param_groups[0]["momentum"])
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.safetensors")
        subprocess.run([tool, "onecycle", str(total), repr(max_lr), repr(pct), str(int(three)), str(int(cos)),
                        repr(div), repr(final_div), out], check=True)
        got = load_st(out)
    name = f"OneCycleLR(total={total}, max_lr={max_lr}, pct={pct}, three_phase={three}, {'cos' if cos else 'linear'})"
    # minidl sets max(lr, 0) at step `total` (never used by a step; PyTorch's linear anneal overshoots below 0)
    check(name + " lr", got["lr"], np.maximum(np.array(lr), 0.0))
    check(name + " momentum", got["momentum"], np.array(mom))

def run_linear(tool, start, end, iters, steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    s = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start, end_factor=end, total_iters=iters)
    lr = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step(); s.step(); lr.append(opt.param_groups[0]["lr"])
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.safetensors")
        subprocess.run([tool, "linear", repr(start), repr(end), str(iters), str(steps), out], check=True)
        check(f"LinearLR(start={start}, end={end}, iters={iters})", load_st(out)["lr"], np.array(lr))

def main():
    tool = sys.argv[1]
    cases = [  # kind, lr, beta1, beta2, eps, weight_decay, amsgrad, schedule, steps
        ("adam", 1e-3, 0.9, 0.999, 1e-8, 0.0, False, "none", 12),
        ("adam", 1e-2, 0.8, 0.99, 1e-6, 0.05, False, "none", 12),
        ("adam", 3e-3, 0.9, 0.999, 1e-8, 0.01, True, "none", 12),
        ("adamw", 1e-3, 0.9, 0.999, 1e-8, 0.01, False, "none", 12),
        ("adamw", 5e-3, 0.85, 0.98, 1e-7, 0.1, True, "none", 12),
        ("adamw", 1e-2, 0.9, 0.999, 1e-8, 0.01, False, "onecycle", 20),
        ("sgd", 0.05, 0.9, 0.0, 0.0, 1e-4, False, "onecycle", 20),
    ]
    for seed, c in enumerate(cases):
        run_case(tool, *c, seed=seed)
    for total, max_lr, pct, three, cos in [(100, 0.1, 0.3, False, True), (37, 0.05, 0.25, False, True),
                                           (50, 0.2, 0.3, True, True), (41, 0.01, 0.4, False, False),
                                           (33, 0.1, 0.35, True, False)]:
        run_onecycle(tool, total, max_lr, pct, three, cos, 25.0, 1e4)
    run_onecycle(tool, 60, 0.3, 0.3, False, True, 10.0, 100.0)
    for start, end, iters, steps in [(1 / 3, 1.0, 5, 9), (0.01, 1.0, 100, 120), (1.0, 0.2, 7, 10)]:
        run_linear(tool, start, end, iters, steps)
    if failures:
        print(f"{len(failures)} parity failures"); sys.exit(1)
    print("all optimizer and schedule parity checks passed")

if __name__ == "__main__":
    main()
