#!/usr/bin/python3
"""Live parity check: minidl's per-class, macro and weighted precision/recall/F1
(ConfusionMatrix, validate/metrics.h) against sklearn 1.2's classification_report.

Random label/prediction vectors (2..12 classes, some classes absent from targets
or predictions or both, imbalanced, near-perfect and chance-level predictions);
every number must agree to 1e-12, and the text report's "macro avg" and
"weighted avg" rows must print sklearn's values rounded to 4 digits.

usage: sklearn_report_parity.py path/to/report_dump
"""
import subprocess, sys, warnings
import numpy as np
from sklearn.metrics import classification_report


def main():
    exe = sys.argv[1]
    rng = np.random.default_rng(20261201)
    for case in range(300):
        k = int(rng.integers(2, 13))
        n = int(rng.integers(1, 400))
        p = rng.dirichlet(np.full(k, float(rng.choice([0.2, 1.0, 5.0]))))
        y = rng.choice(k, size=n, p=p)
        noise = rng.random()
        pred = np.where(rng.random(n) < noise, rng.integers(0, k, size=n), y)
        if case % 5 == 0:  # a class never predicted
            pred = np.where(pred == int(rng.integers(0, k)), (pred + 1) % k, pred)
        out = subprocess.run([exe, str(k)], input=" ".join(map(str, y)) + "\n" + " ".join(map(str, pred)) + "\n",
                             capture_output=True, text=True, check=True).stdout.splitlines()
        got = {}
        report = {}
        for line in out:
            f = line.split()
            if f[0] == "class": got[f[1]] = [float(x) for x in f[2:]]
            elif f[0] in ("macro", "weighted"): got[f[0] + " avg"] = [float(x) for x in f[1:]]
            elif f[0] == "accuracy": got["accuracy"] = float(f[1])
            else: report[" ".join(f[1:3])] = [float(x) for x in f[3:]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = classification_report(y, pred, output_dict=True, zero_division=0)
        keys = ("precision", "recall", "f1-score", "support")
        for label, row in want.items():
            if label == "accuracy":
                ok = abs(got["accuracy"] - row) <= 1e-12
                w = [row]; g = [got["accuracy"]]
            else:
                w = [row[key] for key in keys]; g = got[label]
                ok = all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in zip(g, w))
            if label.endswith("avg"):
                r = report[label]
                ok = ok and all(abs(a - round(b, 4)) < 1e-9 for a, b in zip(r[:3], w[:3])) and r[3] == w[3]
            if not ok:
                print(f"MISMATCH case {case} ({label}): sklearn {w}, minidl {g}\ny_true={list(y)}\ny_pred={list(pred)}")
                return 1
    print("sklearn_report_parity: 300 cases, per-class, macro and weighted averages identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
