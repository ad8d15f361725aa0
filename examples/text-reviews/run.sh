#!/bin/sh
# The book's IMDB network on the generated reviews (reviews.csv, see generate.mjs):
# upload with the review column kept as raw text, train Dense(16) -> Dense(16) -> Dense(1)
# on 10,000-token multi-hot vectors, then predict raw strings.
#   sh examples/text-reviews/run.sh            (BASE=http://localhost:3000, API_KEY=... if set)
set -eu
cd "$(dirname "$0")"
BASE="${BASE:-http://localhost:3000}"
AUTH="Authorization: Bearer ${API_KEY:-none}"
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const v=JSON.parse(s)$1;console.log(typeof v==='string'?v:JSON.stringify(v))})"; }

dataset=$(curl -sf -XPOST "$BASE/v1/datasets?text=review&label=sentiment&name=reviews" -H "$AUTH" \
  -H 'content-type: text/csv' --data-binary @reviews.csv | json .id)
echo "dataset $dataset"
job=$(sed "s/DATASET_ID/$dataset/" job.json | curl -sf -XPOST "$BASE/v1/jobs" -H "$AUTH" \
  -H 'content-type: application/json' -d @- | json .id)
echo "job $job"
curl -sfN "$BASE/v1/jobs/$job/events" -H "$AUTH" | grep -E '^data: .*"(epoch|metrics|status)"' || true
model=$(curl -sf "$BASE/v1/jobs/$job" -H "$AUTH" | json .modelId)
curl -sf "$BASE/v1/models/$model" -H "$AUTH" | json '.transforms.text'
curl -sf -XPOST "$BASE/v1/models/$model/predict" -H "$AUTH" -H 'content-type: application/json' \
  -d '{"instances": ["A great film, beautifully shot!", "Dull and predictable. Avoid it.", "Отличный фильм 😍"]}'
echo
