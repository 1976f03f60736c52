#!/bin/sh
# A stand-in for a coding model, used once to record .workflow/cassette.yaml
# (as a `command` provider: the run's conversation arrives on stdin). It
# drives make-changes through its tools, one JSON tool call per reply: read
# the failing file, patch what the latest test failure points at, done.
conversation=$(cat)
# The last message: the task (first turn) or the result of the last tool call.
last=$(printf '%s\n' "$conversation" | awk '/^## (system|user|assistant)$/ { buf = ""; next } { buf = buf $0 "\n" } END { printf "%s", buf }')
failure=$(printf '%s\n' "$conversation" | grep 'FAIL:' | tail -n 1)
case "$last" in
  *"You are changing files in a repository"*)
    echo '{"tool": "read", "path": "target/work/greet.sh"}' ;;
  "read target/work/greet.sh:"*)
    case "$failure" in
      *"printed 'Helo,"*)
        echo '{"tool": "patch", "path": "target/work/greet.sh", "old": "echo \"Helo, ", "new": "echo \"Hello, "}' ;;
      *"expected 'Hello, world!'"*)
        echo '{"tool": "patch", "path": "target/work/greet.sh", "old": "name=$1", "new": "name=${1:-world}"}' ;;
      *)
        echo '{"tool": "done", "summary": "I do not know how to fix this failure."}' ;;
    esac ;;
  "patched target/work/greet.sh"*)
    case "$failure" in
      *"printed 'Helo,"*) echo '{"tool": "done", "summary": "Fixed the typo Helo -> Hello in greet.sh."}' ;;
      *) echo '{"tool": "done", "summary": "greet.sh now greets the world when no name is given."}' ;;
    esac ;;
  *)
    echo '{"tool": "done", "summary": "Stopped: unexpected tool result."}' ;;
esac
