#!/usr/bin/env bash
# Documentation that is generated from code must match it: README.md holds
# exactly the configuration table `make config-doc` prints from lib/cfg.def.
# Prints "docs: N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The sanitizer build: make test has built its objects already.
BUILD=build/san
passed=0 failed=0
make -s --no-print-directory SAN=1 "$BUILD/tools/configdoc" >/dev/null
table=$("$BUILD/tools/configdoc")
# The whole table, as one block: grep -F would take each line as a pattern
# of its own and pass when any one row is there.
readme=$(<README.md)
if [[ $readme == *"$table"* ]]; then
    echo "ok   README.md configuration table matches lib/cfg.def"
    passed=$((passed + 1))
else
    echo "FAIL README.md configuration table differs from lib/cfg.def: paste the output of make config-doc"
    failed=$((failed + 1))
fi
echo "docs: $passed passed, $failed failed"
((failed == 0))
