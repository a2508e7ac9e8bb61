"""numpy and PyTorch read minidl's safetensors checkpoints.

Runs checkpoint_interop_dump (tests/checkpoint_interop_dump.cpp), then
  1. parses every file it wrote with plain json + numpy, checking the layout
     rules of the format (8-byte little-endian header length, JSON header,
     space padding to 8 bytes, data_offsets tiling the data section), and
     compares patterns.safetensors with the same patterns made by numpy;
  2. builds the reference seed CNN (class Net of tests/parity/torch_seed_cnn_parity.py,
     with and without BatchNorm) in PyTorch 1.13 (Debian's python3-torch,
     /usr/bin/python3), prints its state_dict keys and shapes, checks that they
     are exactly minidl's (names, shapes, dtypes), loads the minidl checkpoint
     with load_state_dict(strict=True) and compares eval-mode logits.

usage: torch_checkpoint_interop.py PATH/TO/checkpoint_interop_dump
"""
import ast, json, os, struct, subprocess, sys, tempfile
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

DT = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "I8": np.int8}
TORCH_DT = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8"}
HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)


def load_st(path):
    """A strict safetensors reader: json + numpy only."""
    b = open(path, "rb").read()
    check(len(b) >= 8, f"{path}: shorter than 8 bytes")
    n = struct.unpack("<Q", b[:8])[0]
    check(8 + n <= len(b), f"{path}: header length {n} exceeds the file")
    raw = b[8:8 + n]
    check(raw[:1] == b"{", f"{path}: header does not start with '{{'")
    check((8 + n) % 8 == 0, f"{path}: data section not 8-byte aligned (header length {n})")
    check(raw.rstrip(b" ") == raw.rstrip(), f"{path}: header padded with something other than spaces")
    header = json.loads(raw.decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = b[8 + n:]
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for s, e, k in spans:
        check(s == pos, f"{path}: tensor {k} starts at {s}, expected {pos}")
        pos = e
    check(pos == len(data), f"{path}: tensors cover {pos} of {len(data)} data bytes")
    out = {}
    for k, v in header.items():
        s, e = v["data_offsets"]
        a = np.frombuffer(data[s:e], dtype=np.dtype(DT[v["dtype"]]).newbyteorder("<")).reshape(v["shape"])
        check(a.nbytes == e - s, f"{path}: {k} size mismatch")
        out[k] = (v["dtype"], a)
    return out, meta


def reference_net():
    """class Net from tests/parity/torch_seed_cnn_parity.py, without running that module."""
    src = open(os.path.join(HERE, "parity", "torch_seed_cnn_parity.py")).read()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name == "Net")
    scope = {"torch": torch, "nn": nn, "F": F}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "torch_seed_cnn_parity.py", "exec"), scope)
    return scope["Net"]


def expected_patterns():
    i = lambda n: np.arange(n, dtype=np.int64)
    return {
        "f32": ("F32", ((i(24) - 7) * 0.375).astype(np.float32).reshape(2, 3, 4)),
        "i8": ("I8", ((i(35) * 37) % 256 - 128).astype(np.int8).reshape(5, 7)),
        "u8": ("U8", ((i(300) * 13) % 256).astype(np.uint8)),
        "i32": ("I32", (i(15) * 100003 - 5000000).astype(np.int32).reshape(3, 5)),
        "i64": ("I64", (i(4) - 2) * ((1 << 40) + 1)),
        "scalar_f32": ("F32", np.array(3.25, dtype=np.float32)),
        "scalar_i64": ("I64", np.array(-7, dtype=np.int64)),
        "empty_f32": ("F32", np.zeros((0, 3), dtype=np.float32)),
        "last_u8": ("U8", np.array([250, 251, 252], dtype=np.uint8)),
    }


def main():
    tool = sys.argv[1]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([tool, d], check=True)

        got, meta = load_st(os.path.join(d, "patterns.safetensors"))
        check(meta == {"format": "pt", "writer": "minidl", "pattern": "v1"}, f"metadata {meta}")
        want = expected_patterns()
        before = len(failures)
        check(set(got) == set(want), f"pattern keys {sorted(got)} != {sorted(want)}")
        for k, (dt, a) in want.items():
            if k not in got:
                continue
            gdt, g = got[k]
            ok = gdt == dt and g.shape == a.shape and g.dtype == a.dtype and np.array_equal(g, a)
            check(ok, f"pattern {k}: got {gdt} {g.shape} {g.ravel()[:6]}, want {dt} {a.shape} {a.ravel()[:6]}")
        print(f"patterns.safetensors: {len(got)} tensors, {len(failures) - before} mismatches with numpy's patterns")

        io, _ = load_st(os.path.join(d, "cnn_io.safetensors"))
        x = torch.from_numpy(io["x"][1].copy())
        Net = reference_net()
        for bn in (False, True):
            path = os.path.join(d, f"cnn_bn{int(bn)}.safetensors")
            ours, meta = load_st(path)
            check(meta.get("format") == "pt", f"{path}: metadata {meta}")
            torch.manual_seed(0)
            net = Net(bn)
            ref = net.state_dict()
            print(f"PyTorch Net(bn={bn}).state_dict():")
            for k, v in ref.items():
                print(f"  {k:28s} {TORCH_DT[v.dtype]:4s} {list(v.shape)}")
            check(set(ours) == set(ref), f"bn={bn}: key sets differ: minidl only {sorted(set(ours) - set(ref))}, "
                                         f"torch only {sorted(set(ref) - set(ours))}")
            for k, v in ref.items():
                if k in ours:
                    dt, a = ours[k]
                    check(dt == TORCH_DT[v.dtype] and list(a.shape) == list(v.shape),
                          f"bn={bn} {k}: minidl {dt} {list(a.shape)}, torch {TORCH_DT[v.dtype]} {list(v.shape)}")
            net.load_state_dict({k: torch.from_numpy(a.copy()) for k, (dt, a) in ours.items()}, strict=True)
            for k, v in net.state_dict().items():
                check(np.array_equal(v.numpy(), ours[k][1]), f"bn={bn} {k}: values changed on loading")
            net.eval()
            with torch.no_grad():
                logits = net(x).numpy()
            mine = io[f"logits_bn{int(bn)}"][1]
            check(logits.shape == mine.shape == (4, 10), f"bn={bn}: logits shapes {logits.shape} {mine.shape}")
            err = float(np.max(np.abs(logits - mine)) / np.max(np.abs(logits)))
            check(err < 1e-4, f"bn={bn}: logits differ, relative error {err:.2e}")
            if bn:
                nbt = int(ours["bn1.num_batches_tracked"][1])
                check(nbt == 2, f"bn1.num_batches_tracked = {nbt}, expected 2")
            print(f"cnn_bn{int(bn)}.safetensors: {len(ours)} tensors loaded strictly into PyTorch's Net(bn={bn}); "
                  f"eval logits relative error {err:.2e} (tolerance 1e-4)")
    if failures:
        print(f"{len(failures)} interop checks failed")
        sys.exit(1)
    print("minidl checkpoints read correctly by numpy and PyTorch")


if __name__ == "__main__":
    main()
