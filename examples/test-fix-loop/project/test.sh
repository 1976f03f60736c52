#!/bin/sh
# The project's test: each case runs greet.sh and compares what it prints.
# Stops at the first failure, saying what was expected.
check() {
  expected=$1
  shift
  command="sh greet.sh${*:+ $*}"
  actual=$(sh greet.sh "$@")
  if [ "$actual" != "$expected" ]; then
    echo "FAIL: $command printed '$actual', expected '$expected'"
    exit 1
  fi
  echo "ok: $command"
}
check "Hello, Ada!" Ada
check "Hello, world!"
echo "all tests passed"
