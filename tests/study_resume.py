"""A study killed with SIGKILL mid-run and started again with the same
arguments loses nothing and trains nothing twice:
  1. an uninterrupted reference run of examples/study (one thread: same bits);
  2. the same study in another directory, killed with SIGKILL as soon as its
     first (fold, recipe) result is on disk;
  3. restarted with the same arguments: every unit finished before the kill is
     reported as loaded (not trained), its file is byte-for-byte unchanged,
     the rest is trained, and the final per-fold accuracies, sizes and
     nonzeros equal the reference run's exactly.

usage: study_resume.py BUILD/examples/study
"""
import csv, gzip, os, random, shutil, signal, struct, subprocess, sys, tempfile, time

study = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="minidl_study_resume_")
failures = []

def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok: failures.append(what)

# A small MNIST-format data set: 3 classes, a bright band whose row depends on the class.
rng = random.Random(5)
n = 240
labels = [i % 3 for i in range(n)]
pixels = bytearray()
for i in range(n):
    for r in range(28):
        band = 6 * labels[i] + 4 <= r < 6 * labels[i] + 10
        pixels.extend(min(255, rng.randrange(60) + (160 if band else 0)) for _ in range(28))
data = os.path.join(tmp, "data"); os.makedirs(data)
for split in ("train", "t10k"):
    with gzip.open(os.path.join(data, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, 28, 28) + bytes(pixels))
    with gzip.open(os.path.join(data, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(labels))

args = ["--data", data, "--folds", "2", "--epochs", "2", "--batch-size", "16", "--finetune-epochs", "1",
        "--recipe", "prune:0.9", "--recipe", "structured:0.5", "--recipe", "prune:0.5",
        "--latency-rounds", "0", "--threads", "1", "--no-bn"]
units = [f"fold-{f}/{u}.json" for f in (0, 1) for u in ("dense", "prune-0.9", "structured-0.5", "prune-0.5")]

def rows(out):
    """results.csv without the columns that depend on timing."""
    with open(os.path.join(out, "results.csv")) as f:
        return [{k: v for k, v in r.items() if k not in ("seconds", "threads")} for r in csv.DictReader(f)]

ref = os.path.join(tmp, "ref")
p = subprocess.run([study] + args + ["--out", ref], capture_output=True, text=True, timeout=1200)
check(p.returncode == 0, f"reference study finishes (exit {p.returncode}) {p.stderr.strip()}")

out = os.path.join(tmp, "killed")
proc = subprocess.Popen([study] + args + ["--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 1200
while time.time() < deadline and proc.poll() is None and not os.path.exists(os.path.join(out, units[1])):
    time.sleep(0.01)
killed = proc.poll() is None
if killed: proc.send_signal(signal.SIGKILL)
proc.wait()
check(killed, "the study was still running when its first recipe result appeared, and was killed")
done = {u: open(os.path.join(out, u), "rb").read() for u in units if os.path.exists(os.path.join(out, u))}
check(0 < len(done) < len(units), f"{len(done)} of {len(units)} units were finished at the kill")

p = subprocess.run([study] + args + ["--out", out], capture_output=True, text=True, timeout=1200)
check(p.returncode == 0, f"the restarted study finishes (exit {p.returncode}) {p.stderr.strip()}")
for u in done:
    check(open(os.path.join(out, u), "rb").read() == done[u], f"{u} is unchanged by the restart")
loaded = p.stdout.count("done before, loaded")
check(loaded == len(done), f"the restart loaded {loaded} units, {len(done)} were finished")
check(f"{len(units) - len(done)} units trained now, {len(done)} loaded" in p.stdout,
      "the restart trained exactly the units that were missing")
if os.path.exists(os.path.join(ref, "results.csv")) and os.path.exists(os.path.join(out, "results.csv")):
    check(rows(ref) == rows(out), "results equal the uninterrupted run's (accuracy, diff, bytes, nonzeros, MACs)")
for name in ("results.json", "pareto.svg", "curves.svg"):
    check(os.path.getsize(os.path.join(out, name)) > 0, f"{name} written")

# The same directory with other settings is refused before anything trains.
p = subprocess.run([study] + args[:-1] + ["--out", out], capture_output=True, text=True, timeout=300)
check(p.returncode == 1 and "other settings" in p.stderr and "[fold" not in p.stdout,
      f"other settings in the same directory: {p.stderr.strip()}")

shutil.rmtree(tmp)
if failures:
    print("\nFAILURES:\n  " + "\n  ".join(failures)); sys.exit(1)
print("resume after SIGKILL: nothing lost, nothing trained twice")
