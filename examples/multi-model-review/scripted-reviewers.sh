#!/bin/sh
# A stand-in for three models, used once to record .workflow/cassette.yaml
# (as a `command` provider: the run's conversation arrives on stdin, the
# requested model is $WORKFLOW_MODEL). Each "model" answers in its own voice,
# as JSON, and reads the diff it is shown: the answers count its lines.
conversation=$(cat)
added=$(printf '%s\n' "$conversation" | grep -c '^+[^+]')
removed=$(printf '%s\n' "$conversation" | grep -c '^-[^-]')
case "$WORKFLOW_MODEL" in
  security-7b)
    echo "{\"approved\": true, \"comments\": \"$added lines added, $removed removed. \$name is quoted everywhere and the new branch only compares \$2: no injection, no new input.\"}" ;;
  style-large)
    echo '{"approved": false, "comments": "The shouted greeting has a `!` the plain one lacks, and no test covers --shout: add one."}' ;;
  lead)
    echo '{"verdict": "approve", "summary": "Safe to apply: both reviewers find it correct. Follow-up from the style review: a test for --shout, and the same punctuation in both greetings."}' ;;
  *)
    echo "scripted-reviewers.sh: no script for model $WORKFLOW_MODEL" >&2
    exit 1 ;;
esac
