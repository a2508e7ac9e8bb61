"""ONNX export checked by what minidl did not write (live).

onnx_dump (minidl) trains the seed CNN and its BatchNorm variant briefly, quantizes them and
exports six models (fp32 dense and bn; int8 dense, bn, dense with per-tensor weights and a ReLU clipping
at a non-zero zero point, and dense with 7-bit codes — reduce_range clamped at 127, Clips after every
QuantizeLinear and QLinearConv)
with minidl's logits on the first 1,000 Fashion-MNIST test images. Then:
  1. Debian's python3-onnx: onnx.checker.check_model(full_check=True) on every file (the
     full check includes strict shape inference) and the operators used;
  2. ONNX Runtime (onnxruntime-node, CPU) runs every file on the same images, with graph
     optimizations "all" (its default) and, for int8, also "disabled" (the graph as written:
     no fusion of the QDQ pattern around AveragePool);
  3. fp32: every logit within 1e-4 of minidl's, relative to the largest |logit| of its image;
     int8: every logit within one quantization step (the output scale); predicted classes
     identical for >= 99.9% of the images, for every model and optimization level.

onnxruntime-node is installed by scripts/setup.sh --test (npm install --ignore-scripts:
the package carries the CPU runtime) in /opt/minidl-onnxruntime, or where
MINIDL_ONNXRUNTIME_NODE points (its node_modules directory); nothing is downloaded here.

usage: onnx_export_parity.py PATH/TO/onnx_dump [N_TRAIN [N_TEST]]
       onnx_export_parity.py PATH/TO/onnx_dump --from CHECKPOINT...   (trained models, all
       10,000 test images, same criteria; the figures of bench/README.md "ONNX export")
"""
import json, os, struct, subprocess, sys, tempfile, time
import numpy as np
import onnx

ORT_VERSION = "1.30.0"
ORT_MODULES = os.environ.get("MINIDL_ONNXRUNTIME_NODE", "/opt/minidl-onnxruntime/node_modules")
HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {  # name: (int8, operators the graph must use)
    "dense": (False, {"Conv", "Relu", "AveragePool", "Flatten", "Gemm"}),
    "bn": (False, {"Conv", "BatchNormalization", "Relu", "AveragePool", "Flatten", "Gemm"}),
    "dense_int8": (True, {"QuantizeLinear", "QLinearConv", "DequantizeLinear", "AveragePool", "Reshape", "Flatten"}),
    "bn_int8": (True, {"QuantizeLinear", "QLinearConv", "DequantizeLinear", "AveragePool", "Reshape", "Flatten"}),
    "dense_int8_pt": (True, {"QuantizeLinear", "QLinearConv", "Clip", "DequantizeLinear", "AveragePool", "Reshape",
                             "Flatten"}),
    "dense_int8_7bit": (True, {"QuantizeLinear", "QLinearConv", "Clip", "DequantizeLinear", "AveragePool", "Reshape",
                               "Flatten"}),
}
DT = {"F32": np.float32, "I64": np.int64}


def load_st(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], DT[v["dtype"]]).reshape(v["shape"])
    return out


def find_ort():
    pkg = os.path.join(ORT_MODULES, "onnxruntime-node", "package.json")
    if not os.path.isfile(pkg):
        sys.exit(f"onnx_export_parity: onnxruntime-node is not installed at {ORT_MODULES} "
                 "(run scripts/setup.sh --test, or set MINIDL_ONNXRUNTIME_NODE to its node_modules)")
    version = json.load(open(pkg))["version"]
    if version != ORT_VERSION:
        sys.exit(f"onnx_export_parity: {pkg} is version {version}, expected {ORT_VERSION} (scripts/setup.sh --test)")
    return version


def check_files(tmp, models):
    failures = 0
    for name, (_, ops) in models.items():
        m = onnx.load(os.path.join(tmp, name + ".onnx"))
        onnx.checker.check_model(m, full_check=True)
        used = {n.op_type for n in m.graph.node}
        opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        ok = ops <= used and opset >= 13 and len(m.graph.initializer) > 0
        failures += not ok
        print(f"{name}: checker ok, opset {opset}, {len(m.graph.node)} nodes, {len(m.graph.initializer)} "
              f"initializers, operators {sorted(used)}" + ("" if ok else f"  FAIL: expected {sorted(ops)}"))
    return failures


def compare(name, int8, ref, step, ort, level):
    err = np.abs(ort - ref)
    agree = float(np.mean(ort.argmax(1) == ref.argmax(1)))
    if int8:
        steps = err / step
        ok = steps.max() <= 1 + 1e-3 and agree >= 0.999
        detail = (f"max error {steps.max():.3f} steps, {int(np.sum(steps > 0.5))} of {steps.size} logits "
                  f"differ (one step)")
    else:
        rel = err.max(1) / np.maximum(np.abs(ref).max(1), 1e-30)
        elem = float((err / np.maximum(np.abs(ref), 1e-30)).max())
        ok = rel.max() <= 1e-4 and agree >= 0.999
        detail = f"max error {rel.max():.2e} relative to the image's largest |logit| (elementwise {elem:.2e})"
    print(f"{name} [{level}]: {detail}, classes agree {agree * 100:.2f}%  {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


def main():
    tool, rest = sys.argv[1], sys.argv[2:]
    version = find_ort()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([tool, tmp, *rest], check=True)
        t1 = time.time()
        st = load_st(os.path.join(tmp, "reference.safetensors"))
        models = MODELS if "--from" not in rest else {
            k: (float(st[k + ".step"][0]) > 0, set()) for k in st if k not in ("images", "labels") and "." not in k}
        failures = check_files(tmp, models)
        images = np.ascontiguousarray(st["images"], dtype="<f4")
        images.tofile(os.path.join(tmp, "images.f32"))
        env = dict(os.environ, NODE_PATH=ORT_MODULES)
        subprocess.run(["node", os.path.join(HERE, "onnx_runtime.js"), os.path.join(tmp, "images.f32"),
                        *map(str, images.shape), tmp, *[os.path.join(tmp, m + ".onnx" + ("+disabled" if int8 else "")) for m, (int8, _) in models.items()]],
                       check=True, env=env)
        t2 = time.time()
        n = images.shape[0]
        acc = {}
        for name, (int8, _) in models.items():
            ref = st[name]
            acc[name] = float(np.mean(ref.argmax(1) == st["labels"]))
            for level in ("all", "disabled") if int8 else ("all",):
                ort = np.fromfile(os.path.join(tmp, f"{name}.{level}.f32"), dtype="<f4").reshape(ref.shape)
                failures += compare(name, int8, ref, float(st[name + ".step"][0]), ort, level)
    print(f"{n} test images; minidl accuracy " + ", ".join(f"{k} {v * 100:.1f}%" for k, v in acc.items()))
    print(f"onnxruntime-node {version}; minidl (train, quantize, export) {t1 - t0:.1f} s, "
          f"checker + ONNX Runtime {t2 - t1:.1f} s")
    if failures:
        sys.exit(f"onnx_export_parity: {failures} failure(s)")
    print("onnx_export_parity: ok")


if __name__ == "__main__":
    main()
