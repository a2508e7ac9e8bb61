"""Bad input to the example programs: each case must exit non-zero with one
line on stderr that names the file or flag at fault, never crash, and leave
no output file behind. Exit codes follow one convention (examples/common_flags.h):
2 for a command-line mistake, 1 for a run that failed.

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

FLAG, RUN = 2, 1

def case(name, argv, expect, out=None, code=None):
    exe = os.path.join(bin_dir, argv[0])
    p = subprocess.run([exe] + argv[1:], capture_output=True, text=True, timeout=300)
    err = p.stderr.strip().splitlines()
    problems = []
    if p.returncode == 0: problems.append("exit code 0")
    if code is not None and p.returncode != code: problems.append(f"exit code {p.returncode}, expected {code}")
    if p.returncode < 0 or p.returncode in (134, 136, 139): problems.append(f"crashed (exit {p.returncode})")
    if len(err) != 1: problems.append(f"{len(err)} lines on stderr: {err}")
    for e in expect:
        if e not in p.stderr: problems.append(f"stderr lacks {e!r}: {p.stderr.strip()!r}")
    if out and any(f.startswith(os.path.basename(out)) for f in os.listdir(os.path.dirname(out))):
        problems.append(f"left output behind: {os.listdir(os.path.dirname(out))}")
    print(f"{'ok  ' if not problems else 'FAIL'} {name}: {p.stderr.strip()}")
    if problems: failures.append(f"{name}: " + "; ".join(problems))

SEED = "conv:32:3,relu,conv:64:3,relu,avgpool:4,flatten,linear:100,relu,linear:10"
out_dir = os.path.join(tmp, "out"); os.makedirs(out_dir)
out = os.path.join(out_dir, "model.safetensors")
good = data_dir("good")
case("missing data directory", ["train_seed_cnn", "--data", "/nonexistent/minidl", "--out", out], ["--data", "/nonexistent/minidl"], out, RUN)
case("unknown flag", ["train_seed_cnn", "--epochz", "3"], ["--epochz"], code=FLAG)
case("epochs out of range", ["train_seed_cnn", "--epochs", "-1"], ["--epochs", "-1", "in [0, 100000]"], code=FLAG)
case("learning rate out of range", ["train_seed_cnn", "--lr", "50"], ["--lr", "50", "in (0, 10]"], code=FLAG)
case("bad schedule", ["train_seed_cnn", "--schedule", "linear"], ["--schedule", "linear"], code=FLAG)
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
case("checkpoint of another architecture", ["train_seed_cnn", "--data", good, "--init", bn_ckpt, "--model", SEED, "--out", out],
     ["bn.safetensors", "unexpected keys", "bn1.weight"], out, RUN)
with open(os.path.join(tmp, "junk.safetensors"), "wb") as f: f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
case("corrupt checkpoint (evaluate)", ["evaluate", os.path.join(tmp, "junk.safetensors"), "--data", good],
     ["junk.safetensors", "header"])
case("unwritable output", ["train_seed_cnn", "--data", good, "--epochs", "0", "--out", "/nonexistent/dir/m.safetensors"],
     ["/nonexistent/dir"])
case("kfold with one fold", ["kfold", "--data", good, "--folds", "1"], ["--folds", "in [2, 1000]"], code=FLAG)
case("prune without a target", ["prune", "--data", good, "--init", bn_ckpt], ["--sparsity", "--structured"], code=RUN)
case("prune sparsity out of range", ["prune", "--sparsity", "1.5"], ["--sparsity", "1.5"], code=FLAG)
csv_path = os.path.join(tmp, "t.csv")
with open(csv_path, "w") as f: f.write("a,b,c,y\n" + "".join(f"{i % 7 / 7},{i % 5 / 5},{i % 3 / 3},{i % 2}\n" for i in range(40)))
case("model spec: unknown layer", ["train_seed_cnn", "--data", good, "--model", "conv:8:3,pool:2", "--out", out],
     ["--model", 'token 2 "pool:2" (at character 9)', "unknown layer"], out, FLAG)
case("model spec: missing flatten", ["train_seed_cnn", "--data", good, "--model", "conv:8:3,linear:10", "--out", out],
     ['token 2 "linear:10"', "[8, 26, 26]", "flatten"], out, RUN)
case("model spec: wrong class count", ["train_seed_cnn", "--data", good, "--model", "flatten,linear:3", "--out", out],
     ["10 classes", "linear:10"], out, RUN)
case("a CSV without .csv", ["train_seed_cnn", "--data", os.path.join(tmp, "junk.safetensors")], ["checkpoint, not a data set"], code=RUN)
case("image size out of range", ["evaluate", bn_ckpt, "--data", good, "--image-size", "5000"], ["--image-size", "in [0, 4096], got 5000"], code=FLAG)
case("evaluate: a model for other data", ["evaluate", bn_ckpt, "--data", csv_path], ["bn.safetensors", "[1, 28, 28]", "[3]"], code=RUN)

shutil.rmtree(tmp)
if failures:
    print("\nFAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("all bad-input cases handled")
