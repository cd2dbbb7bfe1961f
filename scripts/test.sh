#!/usr/bin/env bash
# The whole test suite: generated code freshness, lint, types, fuzzing, then pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
fail=0

echo "== generated protobuf code is fresh"
scripts/gen-proto.sh >/dev/null
git diff --exit-code --stat -- proto/ || { echo "generated code is stale: run scripts/gen-proto.sh"; fail=1; }

echo "== ruff"
ruff check . && ruff format --check . || fail=1

echo "== mypy --strict"
mypy cni_shim netagent ipamd podnetctl tools tests || fail=1

echo "== fuzz the C shim's parsers (bounded: scripts/fuzz.sh)"
bash scripts/fuzz.sh || fail=1

echo "== pytest"
pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure here"
  fail=1
elif [[ $rc -ne 0 ]]; then
  fail=1
fi
leftover=$(ip netns list 2>/dev/null | grep -cE '^(pnt|pl-)' || true)
if [[ "$leftover" -gt 0 ]]; then
  echo "tests left $leftover network namespaces behind:"; ip netns list | grep -E '^(pnt|pl-)'
  fail=1
fi
exit $fail
