"""The example programs on data sets other than Fashion-MNIST, and the small
promises of their command lines. Every program takes --data of any format the
library reads (detected from what it points at); class names come from the
data; --model describes the model; --init reads the architecture off the
checkpoint; prune keeps the original training's recipe and takes
--train-limit; evaluate and export read .sparse and Deep Compression files; output prefixes given with their
extension are not doubled; --help states the ranges the errors state.

usage: examples_data.py BUILD/examples
"""
import gzip, json, os, random, re, shutil, struct, subprocess, sys, tempfile

bin_dir = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="minidl_data_")
failures = []
random.seed(3)

def run(*argv, code=0):
    p = subprocess.run([os.path.join(bin_dir, argv[0]), *argv[1:]], capture_output=True, text=True, timeout=600)
    if p.returncode != code:
        failures.append(f"{' '.join(argv)}: exit {p.returncode} (expected {code}): {p.stderr.strip()}")
    return p.stdout + p.stderr

def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if not ok: failures.append(f"{name}: {detail}")

def accuracy(out):
    m = re.search(r"(?:final )?test accuracy:? ([0-9.]+)", out)
    return float(m.group(1)) if m else -1

def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})

# ---- a CSV table: 3 classes, 4 features in [0, 1]
csv = os.path.join(tmp, "table.csv")
with open(csv, "w") as f:
    f.write("a,b,c,d,kind\n")
    names = ["setosa", "versicolor", "virginica"]
    for i in range(450):
        c = i % 3
        f.write(",".join(f"{min(1, max(0, 0.2 + 0.25 * ((c + j) % 3) + random.gauss(0, 0.04))):.4f}" for j in range(4)) + f",{names[c]}\n")
m_csv = os.path.join(tmp, "csv.safetensors")
out = run("train_seed_cnn", "--data", csv, "--model", "linear:16,relu,linear:3", "--epochs", "8", "--lr", "0.05",
          "--history", os.path.join(tmp, "h.csv"), "--out", m_csv)
check("CSV: detected, held-out test split", "(csv, 360 train, 90 test examples of [4], 3 classes; a stratified 20% held out" in out, out)
check("CSV: trains far above chance (inputs not divided by 255)", accuracy(out) > 0.9, out)
check("CSV: repr shows parameter counts", "# 80 parameters" in out and "# 131 parameters in total" in out, out)
check("--history h.csv writes h.csv, h.json, h.svg (not h.csv.csv)",
      all(os.path.exists(os.path.join(tmp, f)) for f in ("h.csv", "h.json", "h.svg"))
      and not os.path.exists(os.path.join(tmp, "h.csv.csv")), os.listdir(tmp))
out = run("train_seed_cnn", "--data", csv, "--model", "linear:16,relu,linear:3", "--epochs", "60", "--lr", "0.05",
          "--val-fraction", "0.2", "--patience", "2", "--keep-best", "--history", os.path.join(tmp, "v"))
rows = open(os.path.join(tmp, "v.csv")).read().strip().splitlines()[1:]
best = re.search(r"best epoch (\d+) \(validation accuracy ([0-9.]+)\), its weights kept", out)
check("train_seed_cnn: validation split, early stopping, keep-best", "validation: 72 examples carved out" in out
      and "early stopping: no validation improvement for 2 epochs" in out and len(rows) < 60 and best
      and int(best.group(1)) == len(rows) - 2 and rows[int(best.group(1)) - 1].split(",")[5] != "", out)
# --format for a file whose name does not say, and --test-data for a separate test table
txt, test_csv = os.path.join(tmp, "table.txt"), os.path.join(tmp, "test.csv")
lines = open(csv).read().splitlines()
open(txt, "w").write("\n".join(lines[:301]) + "\n")
open(test_csv, "w").write("\n".join([lines[0]] + lines[301:]) + "\n")
e = run("train_seed_cnn", "--data", txt, "--epochs", "0", code=1)
check("a table named .txt: the error says how to name the format", "--format csv" in e, e)
out = run("train_seed_cnn", "--data", txt, "--format", "csv", "--test-data", test_csv, "--model", "linear:16,relu,linear:3",
          "--epochs", "8", "--lr", "0.05")
check("--format csv --test-data: 300 train, 150 test rows", "(csv, 300 train, 150 test examples" in out and accuracy(out) > 0.9, out)
out = run("evaluate", m_csv)  # --data from the checkpoint's metadata
check("evaluate: data from metadata, class names from the CSV", "setosa" in out and "virginica" in out and accuracy(out) > 0.9, out)
out = run("kfold", "--data", csv, "--model", "linear:16,relu,linear:3", "--folds", "3", "--stratified", "--epochs", "8",
          "--lr", "0.05", "--out", os.path.join(tmp, "k.json"))
m = re.search(r"accuracy: ([0-9.]+) ±", out)
check("kfold on a CSV: all 450 rows, folds far above chance", "450 train" in out and m and float(m.group(1)) > 0.9, out)
check("kfold: per-epoch progress inside each fold", out.count("epoch 8/8") == 3, out)
check("kfold --out k.json writes k.json, k.csv, k.svg (not k.json.json)",
      all(os.path.exists(os.path.join(tmp, f)) for f in ("k.json", "k.csv", "k.svg"))
      and not os.path.exists(os.path.join(tmp, "k.json.json")), os.listdir(tmp))
out2 = run("kfold", "--data", csv, "--model", "linear:16,relu,linear:3", "--folds", "3", "--stratified", "--epochs", "8",
           "--lr", "0.05", "--corrected-ci", "--quiet")
m2 = re.search(r"accuracy: ([0-9.]+) ± [0-9.]+ \(corrected 95% CI \[([0-9.-]+), ([0-9.-]+)\]", out2)
m1 = re.search(r"accuracy: [0-9.]+ ± [0-9.]+ \(95% CI \[([0-9.-]+), ([0-9.-]+)\]", out)
check("kfold --corrected-ci: the same folds' mean, a wider (Nadeau-Bengio) interval",
      m and m1 and m2 and m2.group(1) == m.group(1)
      and float(m2.group(3)) - float(m2.group(2)) >= float(m1.group(2)) - float(m1.group(1)), out2)

# ---- image folders (8x8 grayscale PGM): "dark" has a bright top half, "light" a bright bottom half
def pgm(path, top):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    px = bytes((200 + random.randint(0, 55)) if (y < 4) == top else random.randint(0, 40) for y in range(8) for x in range(8))
    with open(path, "wb") as f: f.write(b"P5 8 8 255\n" + px)
imgs = os.path.join(tmp, "imgs")
for split, n in (("train", 40), ("test", 10)):
    for cls, top in (("dark", True), ("light", False)):
        for i in range(n): pgm(os.path.join(imgs, split, cls, f"{i}.pgm"), top)
m_img = os.path.join(tmp, "img.safetensors")
spec = "conv:4:3,relu,flatten,linear:2"
out = run("train_seed_cnn", "--data", imgs, "--channels", "1", "--model", spec, "--epochs", "5", "--lr", "0.05", "--out", m_img)
check("image folder with train/ and test/", "(images, 80 train, 20 test examples of [1, 8, 8], 2 classes; its train/ and test/ folders)" in out, out)
check("image folder: learns", accuracy(out) > 0.9, out)
out = run("evaluate", m_img, "--data", imgs, "--channels", "1")
check("evaluate: the image folder's class names", "dark" in out and "light" in out and "T-shirt" not in out, out)
flat = os.path.join(tmp, "flat")
for cls, top in (("dark", True), ("light", False)):
    for i in range(20): pgm(os.path.join(flat, cls, f"{i}.pgm"), top)
out = run("train_seed_cnn", "--data", flat, "--channels", "1", "--model", spec, "--epochs", "0")
check("image folder without splits: stratified holdout", "32 train, 8 test" in out, out)

# ---- CIFAR-10 batches (10 records a file)
cifar = os.path.join(tmp, "cifar")
os.makedirs(cifar)
for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
    with open(os.path.join(cifar, name), "wb") as f:
        for r in range(10): f.write(bytes([r]) + bytes(random.randint(0, 255) for _ in range(3072)))
m_cifar = os.path.join(tmp, "cifar.safetensors")
out = run("train_seed_cnn", "--data", cifar, "--epochs", "1", "--batch-size", "10", "--out", m_cifar)
check("CIFAR-10: detected; the seed CNN on 3x32x32", "(cifar10, 50 train, 10 test examples of [3, 32, 32]" in out
      and "in_features=3136" in out, out)
out = run("evaluate", m_cifar, "--data", cifar)
check("evaluate: CIFAR-10's class names", "airplane" in out and "truck" in out, out)

# ---- MNIST-format folders: numbered classes unless the data names them
def idx_dir(name, n=60):
    d = os.path.join(tmp, name); os.makedirs(d)
    for split in ("train", "t10k"):
        with gzip.open(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, 28, 28) + bytes(random.randint(0, 255) for _ in range(n * 784)))
        with gzip.open(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(i % 10 for i in range(n)))
    return d
digits = idx_dir("digits")
bn = os.path.join(tmp, "bn.safetensors")
run("train_seed_cnn", "--data", digits, "--bn", "--epochs", "1", "--lr", "0.01", "--out", bn)
out = run("evaluate", bn, "--data", digits)
check("evaluate: a 10-class IDX folder is not labelled with Fashion-MNIST names", "T-shirt" not in out and ("BatchNorm2d" in out or "BNReLU2d" in out), out)  # (BatchNorm detected from the checkpoint; evaluate fuses it with its ReLU)
with open(os.path.join(digits, "classes.txt"), "w") as f: f.write("\n".join(f"digit{i}" for i in range(10)) + "\n")
out = run("evaluate", bn, "--data", digits)
check("evaluate: names from classes.txt", "digit7" in out, out)

# ---- prune: architecture from --init, --train-limit, the original recipe kept, .sparse readable
pruned = os.path.join(tmp, "p.safetensors")
# (--train-limit 30 gives one fine-tuning step, fewer than the pruning schedule's: prune finishes the schedule itself)
out = run("prune", "--data", digits, "--init", bn, "--sparsity", "0.5", "--finetune-epochs", "1", "--train-limit", "30", "--out", pruned)
check("prune --init bn.safetensors without --bn", "model: conv:32:3,bn,relu,conv:64:3,bn,relu" in out, out)
check("prune --train-limit", "30 train" in out, out)
# A checkpoint from before model specs were recorded (no "model"/"input_shape"): the seed CNN's tensor names tell.
old = os.path.join(tmp, "old.safetensors")
with open(bn, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]; header = json.loads(f.read(n)); rest = f.read()
for k in ("model", "input_shape", "data"): header["__metadata__"].pop(k, None)
h = json.dumps(header).encode()
with open(old, "wb") as f: f.write(struct.pack("<Q", len(h)) + h + rest)
out = run("prune", "--data", digits, "--init", old, "--sparsity", "0.5", "--finetune-epochs", "0")
check("prune --init of an older BatchNorm checkpoint: architecture from its tensors", "from its tensor names" in out
      and "conv:32:3,bn" in out, out)
mb, mp = metadata(bn), metadata(pruned)
check("pruned checkpoint keeps the original training's recipe", mp.get("recipe") == mb.get("recipe") and mp.get("model") == mb.get("model")
      and "pruning" in mp, (mb, mp))
dense_out, sparse_out = run("evaluate", pruned), run("evaluate", pruned + ".sparse")
check("evaluate of a .sparse file says what it is and loads it", "minidl's sparse checkpoint format" in sparse_out
      and accuracy(sparse_out) == accuracy(dense_out) and accuracy(dense_out) >= 0, sparse_out)

# ---- export reads what evaluate reads: a .sparse file gives the pruned checkpoint's graph, weight for weight;
# a Deep Compression file its decoded weights (conv 70% / fc 95% zeros, at most 2^5 shared values in fc at 5 bits)
import numpy as np, onnx, onnx.numpy_helper as nh
def initializers(path): return {i.name: nh.to_array(i) for i in onnx.load(path).graph.initializer}
p_onnx, ps_onnx, dc_onnx = (os.path.join(tmp, n) for n in ("p.onnx", "ps.onnx", "dc.onnx"))
run("export", pruned, p_onnx)
out = run("export", pruned + ".sparse", ps_onnx)
a, b = initializers(p_onnx), initializers(ps_onnx)
check("export of a .sparse file: the pruned checkpoint's tensors", "sparse checkpoint format" in out
      and sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), out)
plain, dc = os.path.join(tmp, "plain.safetensors"), os.path.join(tmp, "m.dc")
run("train_seed_cnn", "--data", digits, "--epochs", "1", "--out", plain)
run("compress", "--data", digits, "--init", plain, "--prune-epochs", "0", "--share-epochs", "0", "--out", dc)
out = run("export", dc, dc_onnx)
w = initializers(dc_onnx) if os.path.exists(dc_onnx) else {}
check("export of a Deep Compression file: its pruned, shared weights", "Deep Compression file" in out and "fc1.weight" in w
      and len(np.unique(w["fc1.weight"])) <= 33 and abs(float((w["fc1.weight"] == 0).mean()) - 0.95) < 0.01
      and abs(float((w["conv2.weight"] == 0).mean()) - 0.7) < 0.01, out)

# ---- on a terminal, the progress bar: elapsed<ETA, running loss and accuracy (nn/progress.h)
import pty, select
master, slave = pty.openpty()
p = subprocess.Popen([os.path.join(bin_dir, "train_seed_cnn"), "--data", digits, "--epochs", "1", "--batch-size", "4"],
                     stdout=slave, stderr=slave)
os.close(slave)
tty = b""
while True:
    r, _, _ = select.select([master], [], [], 60)
    if not r: break
    try: chunk = os.read(master, 4096)
    except OSError: break
    if not chunk: break
    tty += chunk
p.wait()
bar = re.search(rb"\repoch 1/1 \[[#.]+\] \d+/15  \d\d:\d\d<(\d\d:\d\d|--:--)  loss [0-9.]+  acc [0-9.]+", tty)
check("progress bar on a terminal: elapsed, ETA, running loss and accuracy", p.returncode == 0 and bar is not None, tty[-400:])

# ---- --help states the ranges the errors state; --help exits 0
h = run("train_seed_cnn", "--help")
check("--help: --lr range as in its error", "in (0, 10]" in h and "in [0, 1)" in h, h)
e = run("train_seed_cnn", "--lr", "0", code=2)
check("--lr 0: error with the same range", "in (0, 10], got 0" in e, e)

shutil.rmtree(tmp)
if failures:
    print("\nFAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("all data-set and command-line cases pass")
