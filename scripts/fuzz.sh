#!/usr/bin/env bash
# Fuzzes the C shim's parsers with libFuzzer under ASan and UBSan (clang): the
# network configuration scan, HPACK decoding, CniOutcome decoding and the HTTP/2
# frame handling (cni_shim/native/fuzz/fuzz_*.c call them directly).
#
# Usage: scripts/fuzz.sh [target...]     (targets: config hpack protobuf http2)
# FUZZ_SECONDS: run time per target (default 20: four targets stay under 2 minutes
# with the build). New inputs go to a scratch corpus seeded from the committed one
# (cni_shim/native/fuzz/corpus/<target>); a crash leaves its input in
# FUZZ_ARTIFACTS (default /tmp/podnet-fuzz-artifacts) and fails the run. Add it to
# the committed corpus as crash-<what> once fixed: the suite replays every file.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
artifacts=${FUZZ_ARTIFACTS:-/tmp/podnet-fuzz-artifacts}
targets=("$@")
((${#targets[@]})) || targets=(config hpack protobuf http2)
command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (scripts/setup.sh --dev installs it)" >&2; exit 1; }

native=cni_shim/native
scratch=$(mktemp -d /tmp/pnfuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
flags=(-g -O1 -std=c11 -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all)

objects=()
for source in "$native"/*.c; do
  [[ "$(basename "$source")" == main.c ]] && continue
  object="$scratch/$(basename "$source" .c).o"
  clang "${flags[@]}" -fsanitize=fuzzer-no-link -c -o "$object" "$source"
  objects+=("$object")
done

export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for target in "${targets[@]}"; do
  binary="$scratch/fuzz_$target"
  clang "${flags[@]}" -fsanitize=fuzzer -o "$binary" "$native/fuzz/fuzz_$target.c" "${objects[@]}"
  corpus="$scratch/corpus_$target"
  mkdir -p "$corpus"
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=70000
           -print_final_stats=1 -artifact_prefix="$artifacts/$target-")
  [[ -f "$native/fuzz/$target.dict" ]] && options+=(-dict="$native/fuzz/$target.dict")
  echo "== fuzz $target (${seconds}s)"
  if ! "$binary" "${options[@]}" "$corpus" "$native/fuzz/corpus/$target" >"$scratch/$target.log" 2>&1; then
    tail -n 40 "$scratch/$target.log"
    echo "fuzz $target: FAILED; the input is in $artifacts/" >&2
    failed=1
  else
    grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$scratch/$target.log" | tail -n 2
  fi
done
exit $failed
