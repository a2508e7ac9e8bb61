#!/usr/bin/python3
"""Live parity check: minidl's KFold / StratifiedKFold (shuffle=False) against scikit-learn.

Usage: /usr/bin/python3 sklearn_split_parity.py path/to/split_dump [n_vectors] [seed]

Generates random label vectors (n in 2..300, 1..12 classes, balanced and heavily
imbalanced class distributions, label values in arbitrary order so that
first-appearance encoding matters), picks a k for each (usually valid, sometimes
deliberately invalid), runs sklearn's KFold and StratifiedKFold and split_dump on
the same input, and requires identical test folds -- or, where sklearn raises,
a non-zero exit from split_dump. Exits 1 on the first mismatch, printing it.
"""
import subprocess
import sys
import warnings

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold


def sklearn_folds(kind, k, y):
    """Test folds as lists of ints, or None if sklearn raises ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cv = KFold(n_splits=k) if kind == "kfold" else StratifiedKFold(n_splits=k)
            return [[int(i) for i in test] for _, test in cv.split(np.zeros(len(y)), y)]
        except ValueError:
            return None


def dump_folds(exe, kind, k, y):
    """(exit status, test folds or None, stderr)."""
    p = subprocess.run([exe, kind, str(k)], input=" ".join(str(int(v)) for v in y),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return p.returncode, None, p.stderr.strip()
    return 0, [[int(t) for t in line.split()] for line in p.stdout.splitlines()], p.stderr.strip()


def random_labels(rng):
    n = int(rng.integers(2, 301))
    n_classes = int(rng.integers(1, min(n, 12) + 1))
    style = rng.integers(0, 3)
    if style == 0:    # balanced-ish
        p = np.full(n_classes, 1.0 / n_classes)
    elif style == 1:  # heavily imbalanced
        p = rng.dirichlet(np.full(n_classes, 0.3))
    else:             # geometric decay
        p = 0.5 ** np.arange(n_classes)
        p = p / p.sum()
    codes = rng.choice(n_classes, size=n, p=p)
    # distinct label values, unrelated to code order, some negative / large
    values = rng.choice(np.arange(-10**6, 10**6), size=n_classes, replace=False) * int(rng.choice([1, 1000]))
    return values[codes]


def pick_k(rng, limit, n):
    """A valid k in 2..limit (mostly small); about 10% of the time an invalid one."""
    if rng.random() < 0.1 or limit < 2:
        return int(rng.integers(limit + 1, limit + 4)) if rng.random() < 0.8 else 1
    hi = min(limit, 20) if rng.random() < 0.9 else limit
    return int(rng.integers(2, hi + 1))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    n_vectors = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 20230201)
    runs = errors = 0
    for case in range(n_vectors):
        y = random_labels(rng)
        n = len(y)
        max_count = int(np.max(np.unique(y, return_counts=True)[1]))
        for kind, limit in (("kfold", n), ("stratified", max_count)):
            k = pick_k(rng, limit, n)
            expected = sklearn_folds(kind, k, y)
            status, got, err = dump_folds(exe, kind, k, y)
            runs += 1
            if expected is None:
                errors += 1
                if status == 0:
                    print(f"MISMATCH case {case}: {kind} k={k} n={n}: sklearn raises, split_dump "
                          f"succeeded\nlabels={list(map(int, y))}")
                    return 1
                if status != 1:
                    print(f"FAIL case {case}: split_dump exit {status} (expected 1): {err}")
                    return 1
                continue
            if status != 0 or got != expected:
                print(f"MISMATCH case {case}: {kind} k={k} n={n}\nlabels={list(map(int, y))}")
                print(f"split_dump exit {status}: {err}")
                if got is not None:
                    for i, (a, b) in enumerate(zip(expected, got)):
                        if a != b:
                            print(f"first differing fold {i}:\n  sklearn    {a}\n  split_dump {b}")
                            break
                    else:
                        print(f"fold count: sklearn {len(expected)}, split_dump {len(got)}")
                return 1
    print(f"sklearn_split_parity: {n_vectors} label vectors, {runs} runs (KFold + StratifiedKFold, "
          f"shuffle=False), {errors} of them error cases: all identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
