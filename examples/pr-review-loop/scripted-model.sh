#!/bin/sh
# A stand-in for a real model, used to record the cassette of the
# pr-review-loop test (as a `command` provider: the conversation arrives on
# stdin, one `## role` header per message). It answers review requests with a
# verdict — changes requested until the fifth review, approved from then on —
# and drives make-changes through its tools: read README.md, write a test
# file named after the review round, done.
conversation=$(cat)
reviews=$(printf '%s\n' "$conversation" | grep -c 'Answer with one JSON object and nothing else')
last=$(printf '%s\n' "$conversation" | awk '/^## (system|user|assistant)$/ { buf = ""; next } { buf = buf $0 "\n" } END { printf "%s", buf }')
case "$last" in
  *"Answer with one JSON object and nothing else"*)
    if [ "$reviews" -ge 5 ]; then
      echo '{"approved": true, "comments": "Retries are bounded and tested. Ship it."}'
    else
      echo "{\"approved\": false, \"comments\": \"Round $reviews ($WORKFLOW_MODEL): add a test for the retry limit.\"}"
    fi ;;
  *"You are changing files in a repository"*)
    echo '{"tool": "read", "path": "README.md"}' ;;
  "read README.md:"*)
    echo "{\"tool\": \"write\", \"path\": \"tests/retry-$reviews.txt\", \"content\": \"retry limit test, round $reviews\\n\"}" ;;
  *)
    echo "{\"tool\": \"done\", \"summary\": \"Added tests/retry-$reviews.txt as review $reviews asked.\"}" ;;
esac
