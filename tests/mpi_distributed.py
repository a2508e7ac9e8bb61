"""The programs under `mpirun --oversubscribe -np 2` (loopback only) against
the same programs run as one process (issue 17):
  1. train_seed_cnn, data-parallel: with the same global batch the weights
     after an epoch equal the single-process run's to float rounding (a
     last batch of one row leaves rank 0's shard empty); a different global
     batch is far outside that tolerance (the check can fail); a BatchNorm
     run with validation and early stopping finishes on both ranks (their
     decisions agree: no hang); an error ends the job, naming the rank;
  2. kfold: the results JSON is bit-identical to one process running each
     fold on the same number of threads (timings aside); CSV too;
  3. study: the same, and a rank whose fold fails (a corrupt unit file)
     names the rank, fold and unit, exits non-zero with the other rank's
     units kept; the restart trains only the missing fold and ends with the
     reference results.

usage: mpi_distributed.py BUILD/examples MPIEXEC [train|kfold|study]...  (default: all three)
"""
import gzip, json, os, random, shutil, struct, subprocess, sys, tempfile

import numpy as np

examples, mpiexec = sys.argv[1], sys.argv[2]
parts = sys.argv[3:] or ["train", "kfold", "study"]
tmp = tempfile.mkdtemp(prefix="minidl_mpi_")
failures = []
env = dict(os.environ)
if os.geteuid() == 0:  # Open MPI refuses root without these
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
# Loopback and shared memory only: no other interface is ever used.
MPI = [mpiexec, "--oversubscribe", "-np", "2", "--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo",
       "--mca", "oob_tcp_if_include", "lo"]


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
        if detail: print(detail[-3000:])


def run(argv, code=0):
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    check(f"{os.path.basename(argv[0])} ... exits {'non-zero' if code is None else code}"
          f" ({p.returncode}): {' '.join(os.path.basename(x) for x in argv[-6:])}",
          p.returncode == code if code is not None else p.returncode != 0, p.stdout)
    return p.stdout


def prog(name): return os.path.join(examples, name)


# A small MNIST-format set: 10 classes, a bright band whose row follows the class, noise elsewhere.
def idx_dir(n_train=600, n_test=200):
    d = os.path.join(tmp, "data"); os.makedirs(d)
    rng = random.Random(17)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = [rng.randrange(10) for _ in range(n)]
        px = bytearray()
        for y in labels:
            for r in range(28):
                on = 2 * y + 4 <= r < 2 * y + 7
                px += bytes(rng.randint(150, 255) if on else rng.randint(0, 90) for _ in range(28))
        with gzip.open(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, 28, 28) + bytes(px))
        with gzip.open(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(labels))
    return d


def safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype={"F32": np.float32, "I64": np.int64}[v["dtype"]])
    return out


def max_rel_diff(a, b):  # max over tensors of max|a - b| / max(1, max|a|)
    return max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) / max(1.0, float(np.abs(a[k]).max())) for k in a)


TIMING = {"seconds", "fit_seconds", "score_seconds", "jobs", "threads_per_job", "world_size"}


def strip(x):  # everything but the timings and how the work was spread
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list): return [strip(v) for v in x]
    return x


data = idx_dir()

# ---- 1. data-parallel training
def train():
    common = ["--data", data, "--train-limit", "513", "--epochs", "1", "--lr", "0.05", "--threads", "1", "--batch-size"]
    single, dp, other = (os.path.join(tmp, f) for f in ("single.safetensors", "dp.safetensors", "b32.safetensors"))
    run([prog("train_seed_cnn"), *common, "64", "--out", single])
    out = run([*MPI, prog("train_seed_cnn"), *common, "64", "--out", dp])
    check("train: rank 0 alone reports and saves", out.count("saved ") == 1 and "2 ranks" in out, out)
    run([prog("train_seed_cnn"), *common, "32", "--out", other])
    a, b, c = safetensors(single), safetensors(dp), safetensors(other)
    tol = 1e-5
    d_dp, d_other = max_rel_diff(a, b), max_rel_diff(a, c)
    print(f"     weights after an epoch: 2 ranks vs 1 process {d_dp:.3g}; global batch 32 vs 64 {d_other:.3g}")
    check(f"train: 2 ranks x 32 rows = 1 process x 64 rows to float rounding ({d_dp:.3g} <= {tol})", d_dp <= tol)
    check(f"train: a different global batch is far from it ({d_other:.3g} > 100 x {tol})", d_other > 100 * tol)
    out = run([*MPI, prog("train_seed_cnn"), "--data", data, "--train-limit", "300", "--bn", "--epochs", "3",
               "--val-fraction", "0.2", "--patience", "1", "--lr", "0.5", "--threads", "1",
               "--out", os.path.join(tmp, "bn.safetensors")])
    check("train: BatchNorm, validation, early stopping: both ranks finish", "best epoch" in out and "saved " in out, out)
    # An error on the ranks ends the whole job (MPI_Abort) instead of leaving one waiting in a collective.
    out = run([*MPI, prog("train_seed_cnn"), "--data", data, "--epochs", "1", "--out", os.path.join(tmp, "no", "such", "dir.st")],
              code=None)
    check("train: a failing rank ends the job with its rank and error", "train_seed_cnn: error: rank " in out and "--out" in out, out)

# ---- 2. kfold
def kfold():
    kf = ["--data", data, "--folds", "3", "--epochs", "1", "--quiet"]
    run([prog("kfold"), *kf, "--jobs", "2", "--threads", "2", "--out", os.path.join(tmp, "kf1")])
    out = run([*MPI, prog("kfold"), *kf, "--threads", "1", "--out", os.path.join(tmp, "kf2")])
    check("kfold: folds dealt to both ranks", "rank 0 [" in out and "rank 1 [" in out, out)
    j1, j2 = (json.load(open(os.path.join(tmp, f + ".json"))) for f in ("kf1", "kf2"))
    check("kfold: JSON bit-identical to one process (timings aside)", strip(j1) == strip(j2))
    check("kfold: world_size recorded", j2["world_size"] == 2 and j1["world_size"] == 1)
    csv1, csv2 = ([line.rsplit(",", 1)[0] for line in open(os.path.join(tmp, f + ".csv"))] for f in ("kf1", "kf2"))
    check("kfold: CSV identical but for the seconds column", csv1 == csv2)

# ---- 3. study
def study():
    st = ["--data", data, "--folds", "2", "--epochs", "1", "--finetune-epochs", "1", "--recipe", "prune:0.5",
          "--recipe", "structured:0.5", "--latency-rounds", "0"]
    ref, dist = os.path.join(tmp, "st1"), os.path.join(tmp, "st2")
    run([prog("study"), *st, "--jobs", "2", "--threads", "2", "--out", ref])
    run([*MPI, prog("study"), *st, "--threads", "1", "--out", dist])
    r1, r2 = (json.load(open(os.path.join(d, "results.json"))) for d in (ref, dist))
    check("study: results.json bit-identical to one process (timings aside)", strip(r1) == strip(r2))

    # A corrupt unit of fold 2 (rank 1's): rank 1 fails, rank 0 finishes fold 1 and keeps it.
    broken = os.path.join(tmp, "st3")
    os.makedirs(os.path.join(broken, "fold-1"))
    with open(os.path.join(broken, "fold-1", "dense.json"), "w") as f: f.write("{ not json")
    out = run([*MPI, prog("study"), *st, "--threads", "1", "--out", broken], code=None)
    check("study: the failure names the rank, fold and unit", "rank 1: study: fold 2, dense" in out, out)
    kept = sorted(f for f in os.listdir(os.path.join(broken, "fold-0")) if f.endswith(".json"))
    check(f"study: the other rank's 3 units are kept ({', '.join(kept)})", len(kept) == 3)
    check("study: no results written after a failure", not os.path.exists(os.path.join(broken, "results.json")))
    os.remove(os.path.join(broken, "fold-1", "dense.json"))
    out = run([*MPI, prog("study"), *st, "--threads", "1", "--out", broken])
    check("study: the restart loads fold 1's 3 units and trains fold 2's 3", "3 units trained now, 3 loaded" in out, out)
    r3 = json.load(open(os.path.join(broken, "results.json")))
    check("study: the resumed results equal the reference", strip(r1)["runs"] == strip(r3)["runs"])

for part in parts:
    {"train": train, "kfold": kfold, "study": study}[part]()
shutil.rmtree(tmp, ignore_errors=True)
print(f"{len(failures)} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
