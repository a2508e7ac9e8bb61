"""Bad input to the example programs: each case must exit non-zero with one
line on stderr that names the file or flag at fault, never crash, and leave
no output file behind.

usage: examples_cli.py BUILD/examples
"""
import gzip, os, shutil, struct, subprocess, sys, tempfile

bin_dir = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="minidl_cli_")
failures = []

def idx(path, dims, data_len=None, magic=(0, 0, 8)):
    n = 1
    for d in dims: n *= d
    data = bytes(range(256)) * (n // 256 + 1)
    data = data[:n if data_len is None else data_len]
    hdr = bytes(magic) + bytes([len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as f: f.write(hdr + data)

def data_dir(name, images_dims=(100, 28, 28), labels=100, **kw):
    d = os.path.join(tmp, name); os.makedirs(d)
    for split in ("train", "t10k"):
        idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), images_dims, **kw)
        with gzip.open(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", labels) + bytes(i % 10 for i in range(labels)))
    return d

def case(name, argv, expect, out=None):
    exe = os.path.join(bin_dir, argv[0])
    p = subprocess.run([exe] + argv[1:], capture_output=True, text=True, timeout=300)
    err = p.stderr.strip().splitlines()
    problems = []
    if p.returncode == 0: problems.append("exit code 0")
    if p.returncode < 0 or p.returncode in (134, 136, 139): problems.append(f"crashed (exit {p.returncode})")
    if len(err) != 1: problems.append(f"{len(err)} lines on stderr: {err}")
    for e in expect:
        if e not in p.stderr: problems.append(f"stderr lacks {e!r}: {p.stderr.strip()!r}")
    if out and any(f.startswith(os.path.basename(out)) for f in os.listdir(os.path.dirname(out))):
        problems.append(f"left output behind: {os.listdir(os.path.dirname(out))}")
    print(f"{'ok  ' if not problems else 'FAIL'} {name}: {p.stderr.strip()}")
    if problems: failures.append(f"{name}: " + "; ".join(problems))

out_dir = os.path.join(tmp, "out"); os.makedirs(out_dir)
out = os.path.join(out_dir, "model.safetensors")
good = data_dir("good")
case("missing data directory", ["train_seed_cnn", "--data", "/nonexistent/minidl", "--out", out], ["--data", "/nonexistent/minidl"], out)
case("unknown flag", ["train_seed_cnn", "--epochz", "3"], ["--epochz"])
case("epochs out of range", ["train_seed_cnn", "--epochs", "-1"], ["--epochs", "-1"])
case("learning rate out of range", ["train_seed_cnn", "--lr", "50"], ["--lr", "50"])
case("bad schedule", ["train_seed_cnn", "--schedule", "linear"], ["--schedule", "linear"])
case("train limit too large", ["train_seed_cnn", "--data", good, "--train-limit", "500", "--out", out],
     ["limit", "500", "100"], out)
d = data_dir("truncated", data_len=1000)
case("truncated IDX", ["train_seed_cnn", "--data", d, "--epochs", "1", "--out", out],
     ["train-images-idx3-ubyte.gz", "truncated", "offset 16"], out)
d = data_dir("magic", magic=(1, 2, 8))
case("wrong IDX magic", ["train_seed_cnn", "--data", d, "--out", out], ["train-images-idx3-ubyte.gz", "magic"], out)
d = data_dir("counts", labels=100, images_dims=(90, 28, 28))
case("image/label count mismatch", ["train_seed_cnn", "--data", d, "--out", out], ["90", "100"], out)
# A checkpoint of another architecture (BatchNorm) given to a model without it.
bn_ckpt = os.path.join(tmp, "bn.safetensors")
subprocess.run([os.path.join(bin_dir, "train_seed_cnn"), "--data", good, "--epochs", "0", "--bn", "--out", bn_ckpt],
               check=True, capture_output=True)
case("checkpoint of another architecture", ["train_seed_cnn", "--data", good, "--init", bn_ckpt, "--out", out],
     ["bn.safetensors", "unexpected keys", "bn1.weight"], out)
with open(os.path.join(tmp, "junk.safetensors"), "wb") as f: f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
case("corrupt checkpoint (evaluate)", ["evaluate", os.path.join(tmp, "junk.safetensors"), "--data", good],
     ["junk.safetensors", "header"])
case("unwritable output", ["train_seed_cnn", "--data", good, "--epochs", "0", "--out", "/nonexistent/dir/m.safetensors"],
     ["/nonexistent/dir"])
case("kfold with one fold", ["kfold", "--data", good, "--folds", "1"], ["--folds"])
case("prune without a target", ["prune", "--data", good, "--init", bn_ckpt, "--bn"], ["--sparsity", "--structured"])
case("prune sparsity out of range", ["prune", "--sparsity", "1.5"], ["--sparsity", "1.5"])
study_out = os.path.join(out_dir, "study")
case("study with an unknown recipe", ["study", "--data", good, "--recipe", "prun:0.9", "--out", study_out],
     ["prun:0.9", "unknown step"], study_out)
case("study sparsity out of range", ["study", "--data", good, "--recipe", "prune:1.5", "--out", study_out],
     ["prune:1.5", "outside [0, 1)"], study_out)
case("study with one fold", ["study", "--data", good, "--folds", "1", "--out", study_out], ["--folds"], study_out)
with open(os.path.join(tmp, "a_file"), "w") as f: f.write("x")
case("study output directory is a file", ["study", "--data", good, "--out", os.path.join(tmp, "a_file")],
     ["a_file", "is a file"])
case("study without --out", ["study", "--data", good], ["--out"])

shutil.rmtree(tmp)
if failures:
    print("\nFAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("all bad-input cases handled")
