#!/usr/bin/env bash
# Regenerates the Python modules beside the .proto files (import as podnet.v1.*).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PATH="$(dirname "$PY"):$PATH"
"$PY" -m grpc_tools.protoc -Iproto \
  --python_out=proto --mypy_out=proto --grpc_python_out=proto --mypy_grpc_out=proto \
  proto/podnet/v1/cni.proto proto/podnet/v1/ipam.proto proto/podnet/v1/agent_admin.proto
