#!/usr/bin/python3
"""Live parity check: minidl's splitters against scikit-learn 1.2.

KFold / StratifiedKFold (shuffle=False), GroupKFold and LeaveOneOut must give
identical folds; ShuffleSplit / StratifiedShuffleSplit must give identical
splits -- the same indices in the same order -- for the same random_state
(minidl reproduces numpy's RandomState and sklearn's draws).

Usage: /usr/bin/python3 sklearn_split_parity.py path/to/split_dump [n_vectors] [seed]

Generates random label vectors (n in 2..300, 1..12 classes, balanced and heavily
imbalanced class distributions, label values in arbitrary order so that
first-appearance encoding matters), picks a k for each (usually valid, sometimes
deliberately invalid), runs sklearn's KFold and StratifiedKFold and split_dump on
the same input, and requires identical test folds -- or, where sklearn raises,
a non-zero exit from split_dump. The other splitters get group vectors with
many equal group sizes (so NumPy's unstable argsort order matters), and
random test/train sizes given as counts, fractions or None (sometimes
invalid). Exits 1 on the first mismatch, printing it.
"""
import subprocess
import sys
import warnings

import numpy as np
from sklearn.model_selection import (GroupKFold, KFold, LeaveOneOut, ShuffleSplit, StratifiedKFold,
                                     StratifiedShuffleSplit)


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


def run_other(exe, args, y, expected, what):
    """Compares split_dump's "test | train" lines with sklearn's (train, test) pairs; None = sklearn raised."""
    p = subprocess.run([exe] + args, input=" ".join(str(int(v)) for v in y), capture_output=True, text=True,
                       timeout=60)
    if expected is None:
        if p.returncode != 1:
            print(f"MISMATCH {what}: sklearn raises, split_dump exit {p.returncode}\ninput={list(map(int, y))}")
            return False
        return True
    if p.returncode != 0:
        print(f"MISMATCH {what}: split_dump exit {p.returncode}: {p.stderr.strip()}\ninput={list(map(int, y))}")
        return False
    got = []
    for line in p.stdout.splitlines():
        test, train = line.split("|")
        got.append(([int(t) for t in train.split()], [int(t) for t in test.split()]))
    if got != expected:
        print(f"MISMATCH {what}\ninput={list(map(int, y))}")
        for i, (a, b) in enumerate(zip(expected, got)):
            if a != b:
                print(f"first differing split {i}:\n  sklearn    train {a[0]} test {a[1]}\n"
                      f"  split_dump train {b[0]} test {b[1]}")
                break
        else:
            print(f"split count: sklearn {len(expected)}, split_dump {len(got)}")
        return False
    return True


def sklearn_splits(cv, y, groups=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return [([int(i) for i in tr], [int(i) for i in te]) for tr, te in cv.split(np.zeros(len(y)), y, groups)]
        except ValueError:
            return None


def random_groups(rng):
    """Group labels with many groups of equal size (ties in GroupKFold's argsort)."""
    n_groups = int(rng.integers(1, 80))
    sizes = rng.integers(1, int(rng.choice([2, 4, 12])) + 1, size=n_groups)
    values = rng.choice(np.arange(-10**5, 10**5), size=n_groups, replace=False)
    g = np.repeat(values, sizes)
    return g[rng.permutation(len(g))] if rng.random() < 0.7 else g


def random_size(rng, n):
    """(split_dump argument, sklearn value): None, a count or a fraction, sometimes invalid."""
    r = rng.random()
    if r < 0.2:
        return "none", None
    if r < 0.55:
        c = int(rng.integers(0, n + 2)) if rng.random() < 0.1 else int(rng.integers(1, max(2, n // 2 + 1)))
        return str(c), c
    f = float(rng.choice([0.0, 1.0, 1.5])) if rng.random() < 0.05 else round(float(rng.uniform(0.01, 0.7)), 3)
    return repr(f), f


def other_splitters(exe, rng, n_vectors):
    runs = 0
    for case in range(n_vectors):
        g = random_groups(rng)
        n_groups = len(np.unique(g))
        k = int(rng.integers(2, min(n_groups, 12) + 1)) if n_groups >= 2 and rng.random() < 0.9 else n_groups + 1
        if not run_other(exe, ["group", str(k)], g, sklearn_splits(GroupKFold(n_splits=k), g, g),
                         f"case {case}: GroupKFold k={k}, {n_groups} groups"):
            return None
        y = random_labels(rng)
        if case % 4 == 0:
            if not run_other(exe, ["loo"], y, sklearn_splits(LeaveOneOut(), y), f"case {case}: LeaveOneOut"):
                return None
            runs += 1
        n_splits = int(rng.integers(1, 6))
        seed = int(rng.integers(0, 2**32))
        (ta, tv), (ra, rv) = random_size(rng, len(y)), random_size(rng, len(y))
        for kind, cls in (("shuffle", ShuffleSplit), ("stratified_shuffle", StratifiedShuffleSplit)):
            cv = cls(n_splits=n_splits, test_size=tv, train_size=rv, random_state=seed)
            if not run_other(exe, [kind, str(n_splits), ta, ra, str(seed)], y, sklearn_splits(cv, y),
                             f"case {case}: {cv!r} n={len(y)}"):
                return None
        runs += 3
    return runs


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
    other = other_splitters(exe, rng, n_vectors)
    if other is None:
        return 1
    print(f"sklearn_split_parity: {other} runs of GroupKFold, LeaveOneOut, ShuffleSplit and "
          f"StratifiedShuffleSplit (same random_state): all identical, index for index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
