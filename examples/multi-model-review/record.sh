#!/bin/sh
# Records .workflow/cassette.yaml again. The workflow runs on a copy of this
# folder whose model names point at the `scripted` provider (a local program,
# scripted-reviewers.sh) instead of `recorded`, with --record; the recorded
# answers then replace this folder's cassette. From the repository's root:
#
#   cargo build -q --bin workflow
#   WORKFLOW=$PWD/target/debug/workflow sh examples/multi-model-review/record.sh
#
# Replace `scripted:` by a real provider (`openai:`, `anthropic:`...) in the
# sed below to record real models instead.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
workflow=${WORKFLOW:-workflow}
copy=$(mktemp -d)
trap 'rm -r "$copy"' EXIT
cp -R "$here/." "$copy/"
rm -f "$copy/.workflow/cassette.yaml"
rm -rf "$copy/target"
sed 's/"recorded:/"scripted:/' "$here/.workflow/config.yaml" > "$copy/.workflow/config.yaml"
cd "$copy"
# The run stops at the approval gate (exit code 3) once every model has answered.
status=0
WORKFLOW_STORE="$copy/runs.db" "$workflow" run multi-model-review.yaml --record "$copy/recorded.yaml" < /dev/null || status=$?
[ "$status" -eq 3 ] || { echo "record.sh: the run ended with exit code $status, expected 3 (waiting at the gate)" >&2; exit 1; }
mv "$copy/recorded.yaml" "$here/.workflow/cassette.yaml"
echo "recorded $here/.workflow/cassette.yaml"
