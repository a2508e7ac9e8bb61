"""PyTorch parity of minidl's pruning: masks, state_dict names, loading, outputs.

minidl prunes a seed CNN (tests/parity/prune_dump.cpp); PyTorch 1.13's
torch.nn.utils.prune applies the same calls to the same dense weights. The
masks must be identical, the keys (conv1.weight_orig, conv1.weight_mask, ...)
the same, and minidl's pruned checkpoint must load into a PyTorch model and
give minidl's outputs.   usage: torch_prune_parity.py PATH/TO/prune_dump
"""
import os, subprocess, sys, tempfile
import numpy as np, torch, torch.nn.utils.prune as prune
sys.path.insert(0, os.path.dirname(__file__))
from torch_seed_cnn_parity import Net, load_st

with tempfile.TemporaryDirectory() as d:
    subprocess.run([sys.argv[1], d], check=True)
    dense = {k: torch.from_numpy(v.copy()) for k, v in load_st(d + "/dense.safetensors").items()}
    mine = {k: torch.from_numpy(v.copy()) for k, v in load_st(d + "/pruned.safetensors").items()}
    io = load_st(d + "/io.safetensors")

m = Net(False); m.load_state_dict(dense)
prune.global_unstructured([(m.conv1, "weight"), (m.conv2, "weight"), (m.fc1, "weight"), (m.fc2, "weight")],
                          pruning_method=prune.L1Unstructured, amount=0.9)
prune.l1_unstructured(m.fc2, "weight", amount=0.5)
prune.l1_unstructured(m.fc2, "weight", amount=0.5)
prune.l1_unstructured(m.fc1, "bias", amount=7)
sd = m.state_dict()
failures = []
if sorted(sd.keys()) != sorted(mine.keys()):
    failures.append(f"state_dict keys differ: {sorted(set(sd) ^ set(mine))}")
for k in sorted(sd):
    if k.endswith("_mask") and not torch.equal(sd[k], mine[k]):
        failures.append(f"{k}: masks differ ({int((sd[k] == 0).sum())} vs {int((mine[k] == 0).sum())} zeros)")
# minidl's checkpoint loads into a PyTorch model prepared for pruning.
m2 = Net(False)
for mod, p in [(m2.conv1, "weight"), (m2.conv2, "weight"), (m2.fc1, "weight"), (m2.fc2, "weight"), (m2.fc1, "bias")]:
    prune.identity(mod, p)
m2.load_state_dict(mine)
with torch.no_grad():
    y = m2(torch.from_numpy(io["x"].copy())).numpy()
# (torch recomputes `weight` = weight_orig * weight_mask in a forward pre-hook,
# so the effective weights are compared after the forward pass.)
for n in ["conv1", "conv2", "fc1", "fc2"]:
    if not torch.equal(getattr(m2, n).weight, getattr(m, n).weight):
        failures.append(f"{n}: effective weights differ")
diff = float(np.abs(y - io["y"]).max() / np.abs(io["y"]).max())
if diff > 1e-5:
    failures.append(f"outputs differ: relative error {diff:.2e}")
print(f"{len([k for k in sd if k.endswith('_mask')])} masks compared, output relative error {diff:.2e}")
if failures:
    print("PRUNE PARITY FAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("pruning matches torch.nn.utils.prune")
