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
case("unknown optimizer", ["train_seed_cnn", "--optimizer", "rmsprop"], ["--optimizer", "rmsprop"], code=FLAG)
case("warm-up with another schedule", ["train_seed_cnn", "--data", good, "--epochs", "2", "--warmup-epochs", "1",
     "--schedule", "cosine", "--out", out], ["warm-up", "cosine"], out, RUN)
case("nesterov with adam", ["train_seed_cnn", "--data", good, "--optimizer", "adam", "--nesterov", "--out", out],
     ["nesterov", "adam"], out, RUN)
case("train limit too large", ["train_seed_cnn", "--data", good, "--train-limit", "500", "--out", out],
     ["limit", "500", "100"], out)
case("test limit too large", ["train_seed_cnn", "--data", good, "--test-limit", "100000", "--out", out],
     ["--test-limit", "100000", "test examples"], out)
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
# compress (issue 15): bad codebook sizes, a layer the exporter does not know, damaged .dc files.
plain_ckpt = os.path.join(tmp, "plain.safetensors")
subprocess.run([os.path.join(bin_dir, "train_seed_cnn"), "--data", good, "--epochs", "0", "--out", plain_ckpt],
               check=True, capture_output=True)
dc_out = os.path.join(out_dir, "m.dc")
quick = ["--prune-epochs", "0", "--share-epochs", "0", "--out", dc_out]
case("compress: codebook bits out of range", ["compress", "--data", good, "--init", plain_ckpt, "--bits", "conv=9,fc=5"] + quick,
     ["2..8 bits", "conv1"], dc_out, RUN)
case("compress: a layer the exporter does not know", ["compress", "--data", good, "--init", bn_ckpt] + quick,
     ["bn1 (BatchNorm2d) is not one the exporter knows"], dc_out, RUN)
case("compress: no sparsity for a layer", ["compress", "--data", good, "--init", plain_ckpt, "--sparsity", "conv=0.5"] + quick,
     ["--sparsity", "no value for layer fc1"], dc_out, RUN)
case("compress: sparsity not a number", ["compress", "--data", good, "--init", plain_ckpt, "--sparsity", "conv=x,fc=0.9"] + quick,
     ["--sparsity: conv1=x is not a number in [0, 1)"], dc_out, RUN)
with open(os.path.join(tmp, "junk.dc"), "wb") as f: f.write(b"MDLDCOMP" + bytes(40))
case("damaged .dc (evaluate)", ["evaluate", os.path.join(tmp, "junk.dc"), "--data", good], ["junk.dc", "byte 25", "header checksum"])
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
# Output targets are checked before training starts (issue 16), not when saving.
case("--out names a directory", ["train_seed_cnn", "--data", good, "--epochs", "1", "--out", out_dir],
     ["--out", "is a directory"], code=RUN)
case("--history in a missing directory", ["train_seed_cnn", "--data", good, "--epochs", "1",
     "--history", "/nonexistent/dir/hist"], ["--history", "/nonexistent/dir"], code=RUN)
case("kfold --out in a missing directory", ["kfold", "--data", good, "--out", "/nonexistent/dir/k"],
     ["--out", "/nonexistent/dir"], code=RUN)
# Training that diverges stops with a message naming epoch and step, and saves nothing.
case("diverging training", ["train_seed_cnn", "--data", good, "--epochs", "5", "--batch-size", "4", "--lr", "10",
     "--momentum", "0.99", "--threads", "1", "--out", out], ["training diverged at epoch", "step", "learning rate"], out, RUN)
study_out = os.path.join(out_dir, "study")
case("study with an unknown recipe", ["study", "--data", good, "--recipe", "prun:0.9", "--out", study_out],
     ["prun:0.9", "unknown step"], study_out)
case("study sparsity out of range", ["study", "--data", good, "--recipe", "prune:1.5", "--out", study_out],
     ["prune:1.5", "outside [0, 1)"], study_out)
case("study with one fold", ["study", "--data", good, "--folds", "1", "--out", study_out], ["--folds"], study_out, FLAG)
with open(os.path.join(tmp, "a_file"), "w") as f: f.write("x")
case("study output directory is a file", ["study", "--data", good, "--out", os.path.join(tmp, "a_file")],
     ["a_file", "is a file"])
case("study without --out", ["study", "--data", good], ["--out"])

# examples/quantize and int8 checkpoints.
import json
def st_edit(src, dst, edit=None, meta=None, extra=None):
    """Copy a safetensors file, editing one tensor's bytes, the metadata, or adding a tensor."""
    b = open(src, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); body = bytearray(b[8 + n:])
    if edit: s0, _ = h[edit[0]]["data_offsets"]; body[s0:s0 + len(edit[1])] = edit[1]
    if meta: h["__metadata__"].update(meta)
    if extra:
        h[extra] = {"dtype": "F32", "shape": [1], "data_offsets": [len(body), len(body) + 4]}; body += struct.pack("<f", 1.0)
    hb = json.dumps(h).encode(); hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(dst, "wb") as f: f.write(struct.pack("<Q", len(hb)) + hb + bytes(body))
plain = os.path.join(tmp, "plain.safetensors")
subprocess.run([os.path.join(bin_dir, "train_seed_cnn"), "--data", good, "--epochs", "0", "--out", plain],
               check=True, capture_output=True)
qout = os.path.join(out_dir, "q.safetensors")
case("quantize without calibration images", ["quantize", "--data", good, "--init", plain, "--calib", "0", "--out", qout],
     ["--calib 0", "calibration"], qout, RUN)
case("quantize unknown observer", ["quantize", "--init", plain, "--observer", "kl"], ["--observer", "kl"], code=FLAG)
nan_ckpt = os.path.join(tmp, "nan.safetensors")
st_edit(plain, nan_ckpt, edit=("fc2.bias", struct.pack("<f", float("nan"))))
case("quantize NaN weights", ["quantize", "--data", good, "--init", nan_ckpt, "--calib", "20", "--out", qout],
     ["fc2 output", "non-finite"], qout)
unknown = os.path.join(tmp, "unknown.safetensors")
st_edit(plain, unknown, extra="act.weight")
case("quantize checkpoint with an unknown layer", ["quantize", "--data", good, "--init", unknown, "--out", qout],
     ["unknown.safetensors", "unexpected keys", "act.weight"], qout)
case("export unwritable output", ["export", plain, "/nonexistent/dir/m.onnx"], ["/nonexistent/dir"], code=RUN)
case("export checkpoint with an unknown tensor", ["export", unknown, os.path.join(out_dir, "u.onnx")],
     ["unknown.safetensors", "act.weight"], os.path.join(out_dir, "u.onnx"), RUN)
case("quantize unwritable output", ["quantize", "--data", good, "--init", plain, "--out", "/nonexistent/dir/q.safetensors"],
     ["/nonexistent/dir"])
int8 = os.path.join(tmp, "int8.safetensors")
r = subprocess.run([os.path.join(bin_dir, "quantize"), "--data", good, "--init", plain, "--calib", "20", "--out", int8],
                   capture_output=True, text=True)
if r.returncode != 0: failures.append("quantize on good input failed: " + r.stderr.strip())
else:
    case("int8 checkpoint into a float model", ["train_seed_cnn", "--data", good, "--init", int8, "--out", out],
         ["int8.safetensors", "conv1.weight", "I8"], out)
    case("int8 checkpoint given to quantize", ["quantize", "--data", good, "--init", int8, "--out", qout],
         ["int8.safetensors", "already an int8"], qout)
    bad = os.path.join(tmp, "badlayers.safetensors")
    st_edit(int8, bad, meta={"quantization.layers": "quant=Quantize;conv1=QuantizedConv2d 32 1 3 x s1 p0 relu pc"})
    case("corrupted int8 layer list (evaluate)", ["evaluate", bad, "--data", good], ["badlayers.safetensors", "conv1"])
    tw = os.path.join(tmp, "tampered.safetensors")
    st_edit(int8, tw, edit=("fc1.weight", b"\x80"))
    case("int8 weight outside [-127, 127] (evaluate)", ["evaluate", tw, "--data", good], ["tampered.safetensors", "fc1", "-128"])
    trunc = os.path.join(tmp, "trunc.safetensors")
    with open(trunc, "wb") as f: f.write(open(int8, "rb").read()[:-100])
    case("truncated int8 checkpoint (evaluate)", ["evaluate", trunc, "--data", good], ["trunc.safetensors"])
    # examples/export: bad checkpoints, shapes and outputs leave no .onnx file behind.
    onnx_out = os.path.join(out_dir, "m.onnx")
    case("export truncated int8 checkpoint", ["export", trunc, onnx_out], ["trunc.safetensors"], onnx_out, RUN)
    case("export with a wrong --input-shape", ["export", int8, onnx_out, "--input-shape", "1,20,20"],
         ["fc1", "2304"], onnx_out, RUN)
    case("export with a malformed --input-shape", ["export", int8, onnx_out, "--input-shape", "1,x"],
         ["--input-shape", "1,x", "not a list of sizes"], onnx_out, RUN)
    for src in (plain, int8):
        ex = subprocess.run([os.path.join(bin_dir, "export"), src, onnx_out], capture_output=True, text=True)
        if ex.returncode != 0 or not os.path.isfile(onnx_out):
            failures.append(f"export of {os.path.basename(src)} failed: " + ex.stderr.strip())
        elif os.path.exists(onnx_out): os.remove(onnx_out)
    # --bias-fraction: saved with its bias_frac tensors, evaluated; export refuses it (QLinearConv's bias is int32).
    frac = os.path.join(tmp, "frac.safetensors")
    r = subprocess.run([os.path.join(bin_dir, "quantize"), "--data", good, "--init", plain, "--calib", "20",
                        "--bias-fraction", "--out", frac], capture_output=True, text=True)
    if r.returncode != 0 or b"fc2.bias_frac" not in open(frac, "rb").read(4096):
        failures.append("quantize --bias-fraction: " + r.stderr.strip())
    else:
        case("export of a model with bias fractions", ["export", frac, onnx_out], ["conv1", "keeps a bias fraction"],
             onnx_out, RUN)
    # --seven-bit: reduce_range with every code clamped at 127, recorded as qmax127; exported with Clips.
    seven = os.path.join(tmp, "seven.safetensors")
    r = subprocess.run([os.path.join(bin_dir, "quantize"), "--data", good, "--init", plain, "--calib", "20",
                        "--seven-bit", "--out", seven], capture_output=True, text=True)
    if r.returncode != 0 or b"qmax127" not in open(seven, "rb").read(8192) or "clamped at 127" not in r.stdout:
        failures.append("quantize --seven-bit: " + r.stderr.strip())
    else:
        ex = subprocess.run([os.path.join(bin_dir, "export"), seven, onnx_out], capture_output=True, text=True)
        if ex.returncode != 0 or b"clamp_max" not in open(onnx_out, "rb").read():
            failures.append("export of a --seven-bit model: " + ex.stderr.strip())
        if os.path.exists(onnx_out): os.remove(onnx_out)
    ev = subprocess.run([os.path.join(bin_dir, "evaluate"), int8, "--data", good], capture_output=True, text=True)
    if ev.returncode != 0 or "int8 quantized" not in ev.stdout:
        failures.append("evaluate does not report the int8 checkpoint: " + ev.stdout[:200] + ev.stderr)
# distill: temperature, alpha, width, teachers of another architecture or class count, leaking folds.
case("distill temperature 0", ["distill", "--data", good, "--temperature", "0"], ["temperature", "got 0"], code=RUN)
case("distill unknown flag", ["distill", "--data", good, "--folds", "2", "--temprature", "4"], ["--temprature"], code=FLAG)
case("distill alpha out of range", ["distill", "--data", good, "--alpha", "0.5,1.5"], ["alpha must be in [0, 1], got 1.5"])
case("distill width 0", ["distill", "--data", good, "--width", "0"], ["width must be in (0, 16], got 0"])
case("distill precompute with augment", ["distill", "--data", good, "--precompute", "--augment"], ["--precompute", "--augment"])
def write_st(path, tensors):  # name -> shape, float32 zeros
    import json
    header, off = {}, 0
    for k, shape in tensors.items():
        n = 4
        for d in shape: n *= d
        header[k] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}; off += n
    h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f: f.write(struct.pack("<Q", len(h)) + h + bytes(off))
mlp = os.path.join(tmp, "mlp.safetensors")
write_st(mlp, {"fc.weight": (10, 784), "fc.bias": (10,)})
case("distill teacher of another architecture", ["distill", "--data", good, "--teacher", mlp],
     ["mlp.safetensors", "not a seed CNN", "conv1.weight"])
five = os.path.join(tmp, "five.safetensors")
write_st(five, {"conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,), "conv2.weight": (64, 32, 3, 3), "conv2.bias": (64,),
                "fc1.weight": (100, 2304), "fc1.bias": (100,), "fc2.weight": (5, 100), "fc2.bias": (5,)})
case("distill teacher with 5 classes", ["distill", "--data", good, "--teacher", five], ["five.safetensors", "5 classes", "10"])
case("distill folds on the teacher's images", ["distill", "--data", good, "--teacher", bn_ckpt, "--folds", "2"],
     ["--folds", "first 100 training images", "--skip 100"])

shutil.rmtree(tmp)
if failures:
    print("\nFAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("all bad-input cases handled")
