#!/usr/bin/env bash
# The main job: build MobileNetV1 from the zoo, export it 80% sparse, check it against
# onnxruntime, and benchmark it against onnxruntime and LiteRT, interleaved, one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p out
python -m models.zoo build mobilenet_v1 --format onnx -o out/mobilenet_v1.onnx
python -m models.zoo build mobilenet_v1 --format tflite -o out/mobilenet_v1.tflite
edge-sdk export out/mobilenet_v1.onnx -o out/mobilenet_v1_s80.esm --sparsity 0.8 --pattern unstructured \
  --report out/mobilenet_v1_s80.json
edge-sdk bench out/mobilenet_v1_s80.esm --runs 30 --compare out/mobilenet_v1.onnx --compare out/mobilenet_v1.tflite
