// onnx_runtime.js — runs .onnx files in ONNX Runtime (the onnxruntime-node package, CPU).
//
// usage: node onnx_runtime.js IMAGES.f32 N C H W OUT_DIR MODEL.onnx[+disabled]...
// IMAGES.f32 holds N·C·H·W little-endian float32 values; for each MODEL writes, with graph
// optimizations "all" (ONNX Runtime's default) and, given "+disabled", also "disabled"
// (the graph as written), OUT_DIR/<model basename>.<level>.f32, the first output as float32. Prints the
// runtime's version. onnxruntime-node is found through NODE_PATH (see onnx_export_parity.py).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [images, n, c, h, w, outDir, ...models] = process.argv.slice(2);
  const dims = [n, c, h, w].map(Number);
  const bytes = fs.readFileSync(images);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  if (data.length !== dims.reduce((a, b) => a * b)) throw new Error(`${images}: ${data.length} floats, expected ${dims}`);
  console.log(`onnxruntime-node ${ort.env.versions.node}`);
  for (const arg of models) {
    const model = arg.replace(/\+disabled$/, '');
    const levels = arg.endsWith('+disabled') ? ['all', 'disabled'] : ['all'];
    for (const level of levels) {
      const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: level, intraOpNumThreads: 2});
      const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, dims)};
      const result = await session.run(feeds);
      const y = result[session.outputNames[0]];
      const name = path.basename(model, '.onnx');
      fs.writeFileSync(path.join(outDir, `${name}.${level}.f32`), Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
      console.log(`${name} (${level}): output [${y.dims}]`);
    }
  }
}

main().catch((e) => {
  console.error(`onnx_runtime.js: error: ${e.message}`);
  process.exit(1);
});
