#!/usr/bin/env bash
# The main job end to end on the bundled sample data:
#   optimizer paths -> a small large-batch study -> train ESIM -> evaluate -> export a SavedModel ->
#   serve it with nli_model_server (TF Serving protocol) -> query it over gRPC and REST, beside the pretrained ESIM
#   shipped in nli_app/data/models/esim_snli (trained on 100,000 real SNLI pairs), which answers real pairs.
# Everything lands under runs/demo/. Needs `make setup` first (the Makefile's `demo` target does it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=runs/demo
rm -rf "$OUT"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

step() { printf '\n=== %s\n' "$*"; }

step "1/6 optimizer paths on the Beale function and the saddle (survey Figure 4)"
"$BIN/optimizer_paths" --output_dir="$OUT/optimizer_paths"

step "2/6 small- vs large-batch training and sharpness on the bundled MNIST sample (Keskar et al. Tables 2-3)"
# 10,000 real MNIST training images: SB batch 156 vs LB batch 1,000 (10%), 3 trials each, until the training loss
# stops improving (at most 8 epochs); sharpness on 1,000 training images with both maximisers. sb_vs_lb.png shows
# mean +- std over the trials (error bars) and sharpness on a log axis. Measured on 2 busy cores: LB sharper than SB
# (phi 3,072 +- 190 vs 1,586 +- 570, the paper's way but 1.9x, not 10x) and no generalization gap (test 96.17 +-
# 0.26% LB vs 95.80 +- 0.17% SB): 10,000 images and 8 epochs are too small for the paper's effect on accuracy.
"$BIN/large_batch" --experiment=sb_vs_lb --output_dir="$OUT/large_batch" --trials=3 --epochs=8 --patience=2 \
  --sharpness_examples=1000 --subspace_dims=full --epsilons=1e-3

step "3/6 train ESIM with the survey's Adam on the bundled SNLI sample, from GloVe 6B 50-d (2 replicas)"
# ~1,000 training pairs instead of the paper's 550,152: expect well under the paper's 88% (see the summary below).
"$BIN/train_nli" --model=esim --model_dir="$OUT/esim" --glove=6B.50d --embedding_dim=50 --hidden_units=64 \
  --epochs=6 --batch_size=32 --num_cpu_replicas=2

step "4/6 evaluate the trained model on the sample test file"
"$BIN/eval_nli" --model_dir="$OUT/esim" --data_path=nli_app/data/snli/snli_1.0_sample_test.jsonl

step "5/6 export versioned SavedModels for TF Serving: the demo's ESIM and the shipped pretrained one"
"$BIN/export_nli" --model_dir="$OUT/esim" --export_base="$OUT/export" --model_name=esim --version=1
"$BIN/export_nli" --model_dir=nli_app/data/models/esim_snli --export_base="$OUT/export" --model_name=esim_snli \
  --version=1

step "6/6 serve both and query them over gRPC and REST"
read -r GRPC_PORT REST_PORT < <("$BIN/python" -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
cat > "$OUT/models.config" <<EOF
model_config_list {
  config { name: "esim" base_path: "$PWD/$OUT/export/esim" model_platform: "tensorflow" }
  config { name: "esim_snli" base_path: "$PWD/$OUT/export/esim_snli" model_platform: "tensorflow" }
}
EOF
"$BIN/nli_model_server" --host=127.0.0.1 --port="$GRPC_PORT" --rest_api_port="$REST_PORT" \
  --model_config_file="$OUT/models.config" > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  "$BIN/python" -c "import urllib.request as u; [u.urlopen(f'http://127.0.0.1:$REST_PORT/v1/models/{m}')
for m in ('esim', 'esim_snli')]" >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.5
done
echo "The demo's ESIM (about 1,000 training pairs: near chance):"
"$BIN/nli_predict" --server="127.0.0.1:$GRPC_PORT" --model_name=esim \
  --premise="A man is playing a guitar on stage." --hypothesis="A person is performing music."
"$BIN/nli_predict" --rest --server="127.0.0.1:$REST_PORT" --model_name=esim \
  --premise="Two dogs run through a field." --hypothesis="The animals are sleeping."
echo "POST /v1/models/esim:predict (raw REST, as curl would send it):"
"$BIN/python" - "$REST_PORT" <<'PY'
import json, sys, urllib.request
body = {"instances": [{"premise": "A woman is reading.", "hypothesis": "A woman has a book."}]}
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/models/esim:predict",
                                 data=json.dumps(body).encode())
print(urllib.request.urlopen(request).read().decode())
PY
echo "The shipped pretrained ESIM (nli_app/data/models/esim_snli, 100,000 SNLI pairs; see its MODEL_CARD.md):"
"$BIN/nli_predict" --server="127.0.0.1:$GRPC_PORT" --model_name=esim_snli \
  --premise="A man is sleeping." --hypothesis="A man is asleep."
"$BIN/nli_predict" --server="127.0.0.1:$GRPC_PORT" --model_name=esim_snli \
  --premise="Two dogs run through a field." --hypothesis="The animals are sleeping."
"$BIN/nli_predict" --rest --server="127.0.0.1:$REST_PORT" --model_name=esim_snli \
  --premise="A child is playing soccer." --hypothesis="A boy is playing with his father."
"$BIN/python" scripts/demo_summary.py "$OUT"
printf '\nDemo done: results, plots and TensorBoard logs are under %s\n' "$OUT"
printf '.venv/bin/tensorboard --logdir=%s   # the "Sharpness" tab shows the large-batch study\n' "$OUT"
