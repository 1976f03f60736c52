#!/bin/sh
# Records .workflow/cassette.yaml again: runs the workflow in this folder with
# `--model scripted:fixer` (a local program, scripted-fixer.sh) instead of the
# replayed `recorded:fixer`, with --record; the recorded answers then replace
# the cassette. From the repository's root:
#
#   cargo build -q --bin workflow
#   WORKFLOW=$PWD/target/debug/workflow sh examples/test-fix-loop/record.sh
#
# With a real model (MODEL=anthropic:claude-sonnet-4-5 sh record.sh, say) its
# answers are recorded instead; the replay then plays them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
workflow=${WORKFLOW:-workflow}
model=${MODEL:-scripted:fixer}
out=$(mktemp -d)
trap 'rm -r "$out"' EXIT
cd "$here"
WORKFLOW_STORE="$out/runs.db" "$workflow" run test-fix-loop.yaml --model "$model" --record "$out/cassette.yaml" < /dev/null
mv "$out/cassette.yaml" "$here/.workflow/cassette.yaml"
echo "recorded $here/.workflow/cassette.yaml"
