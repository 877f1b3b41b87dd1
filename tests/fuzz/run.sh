#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan + UBSan) from all the
# library sources and runs it for SECONDS (default 20) on all cores but one.
# Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_TO_RUN=${1:-20}
# The target, its corpus and any crash-* or leak-* input it finds go here
# (root's own files: nothing here is read by postgres or www-data).
OUT=$ROOT/.dev/fuzz
mkdir -p "$OUT/corpus"
# Every library source is built instrumented (coverage guides the fuzzer
# through the library, not only the target), so a new file needs no list.
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
clang -g -O1 -D_GNU_SOURCE -DPACKAGE_VERSION='"fuzz"' \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$ROOT/lib" "$ROOT/tests/fuzz/fuzz_request.c" "$ROOT"/lib/*.c \
	$(pkg-config --cflags --libs json-c libpq openssl libcurl gdlib) -lm \
	-o "$OUT/fuzz_request"
# Seeds: one valid start body per type, paths, numbers.
printf '\003{"prompt":"a fox","style":"anime"}' >"$OUT/corpus/seed-cartoonize"
printf '\000{"title":"T","story":"s","characterImage":"https://x/y.png","pages":[{"pageNumber":1,"scenes":[{"description":"d"}]}]}' >"$OUT/corpus/seed-storybook"
printf '\003{"prompt":"caf\303\251 \360\237\246\212 \\ud83e\\udd8a \\u00e9"}' >"$OUT/corpus/seed-utf8"
printf '\005/api/jobs/cartoonize/status/job_1_a' >"$OUT/corpus/seed-route"
printf '\00612345' >"$OUT/corpus/seed-number"
"$OUT/fuzz_request" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 \
	-artifact_prefix="$OUT/" \
	-print_final_stats=1 "$OUT/corpus" 2>&1 | tail -n 12
