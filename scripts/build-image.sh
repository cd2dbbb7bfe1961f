#!/usr/bin/env bash
# Builds podnet's container image from deploy/image/Containerfile with podman, pulling
# nothing from any registry (run as root):
#   1. a base image: `debootstrap --variant=minbase` of Debian from the apt mirror this
#      machine uses, imported with `podman import` (kept and reused while its recipe holds);
#   2. wheels of podnet and its dependencies, built on this host by the venv's pip at the
#      versions the venv has (the base's python3 must be the same minor version);
#   3. the C shim, linked statically (musl-gcc when installed, else cc -static);
#   4. `podman build` on the base, with no network.
# The image carries a label hashing its inputs; when it matches, nothing is rebuilt.
#
# Usage: scripts/build-image.sh [--tag IMAGE] [--force] [--force-base]
# Prints the image name on stdout; progress and timings on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
tag="localhost/podnet:${version}"
force=0
force_base=0
usage() { sed -n 's/^# Usage: //p' "$0"; }
die() { echo "build-image: $*" >&2; exit 1; }
while (($#)); do
  case "$1" in
    --tag) [[ $# -ge 2 && -n "$2" ]] || { echo "build-image: --tag needs an image name" >&2; exit 2; }
           tag=$2; shift 2 ;;
    --force) force=1; shift ;;
    --force-base) force=1; force_base=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-image: unknown argument '$1' ($(usage))" >&2; exit 2 ;;
  esac
done

[[ $EUID -eq 0 ]] || die "run as root (debootstrap and podman's root store)"
for tool in podman debootstrap readelf; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup.sh --dev installs it)"
done
python=${PODNET_BUILD_PYTHON:-.venv/bin/python}
[[ -x "$python" ]] || die "$python is missing: run scripts/setup.sh first"

suite=bookworm
base_packages=python3,iproute2,nftables
base_tag=localhost/podnet-base:${suite}
debootstrap_cache=/var/cache/podnet-image/debootstrap
# crun fails on this machine's hybrid cgroups; runc with cgroupfs works everywhere.
podman_cmd=(podman --runtime runc --cgroup-manager cgroupfs)

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
label_of() {  # image label
  "${podman_cmd[@]}" image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true
}
quietly() {  # runs a command, showing its output only when it fails (minus pip's config noise)
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  if ((status)); then grep -v '^WARNING: Location' "$log" >&2 || true; fi
  rm -f "$log"
  return "$status"
}

debian_mirror() {
  if [[ -n "${PODNET_DEBIAN_MIRROR:-}" ]]; then echo "$PODNET_DEBIAN_MIRROR"; return; fi
  local found=""
  shopt -s nullglob
  local deb822=(/etc/apt/sources.list.d/*.sources)
  shopt -u nullglob
  if ((${#deb822[@]})); then
    # The first enabled "deb" stanza whose Suites name the suite itself.
    found=$(awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; deb = 0; enabled = 1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = " " $i " " }
          if ($i ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
          if ($i ~ /^Enabled:[ \t]*no/) enabled = 0
        }
        if (deb && enabled && uris != "" && index(suites, " " suite " ")) {
          split(uris, first, " "); print first[1]; exit
        }
      }' "${deb822[@]}")
  fi
  if [[ -z "$found" && -r /etc/apt/sources.list ]]; then
    found=$(awk -v suite="$suite" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' /etc/apt/sources.list)
  fi
  echo "${found:-http://deb.debian.org/debian}"
}

build_base() {  # $1: an empty directory for the root file system
  local rootfs=$1
  mkdir -p "$debootstrap_cache"
  # (Run under `quietly`, where set -e does not hold: each failure returns.)
  debootstrap --variant=minbase --include="$base_packages" --cache-dir="$debootstrap_cache" \
    "$suite" "$rootfs" "$(debian_mirror)" || return
  # A runtime image needs neither apt's lists and downloads nor documentation
  # (the copyright files stay) nor translations.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* || return
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
}

base_python() {  # the base's python3 minor version, e.g. 3.11
  local rootfs=$1
  readlink "$rootfs/usr/bin/python3" | sed -n 's/^python\([0-9]*\.[0-9]*\)$/\1/p'
}

workdir=""
cleanup() {
  [[ -n "$workdir" && -d "$workdir" ]] || return 0
  # debootstrap mounts these inside the target and leaves them behind when it fails.
  local mount
  for mount in proc sys dev/pts; do
    mountpoint -q "$workdir/rootfs/$mount" 2>/dev/null && umount -l "$workdir/rootfs/$mount"
  done
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

# One build at a time on this machine; a waiting one then finds the image up to date.
mkdir -p /run/lock
exec 9>/run/lock/podnet-build-image.lock
flock 9

started=$(now)
timings=()

base_hash=$({ declare -f build_base; echo "$suite $base_packages"; } | sha256sum | cut -c1-16)
if ((force_base)) || [[ "$(label_of "$base_tag" io.podnet.base-hash)" != "$base_hash" ]]; then
  workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/podnet-image.XXXXXX")
  echo "build-image: debootstrap $suite (+ $base_packages) from $(debian_mirror)" >&2
  step=$(now)
  quietly build_base "$workdir/rootfs" || die "debootstrap failed (output above)"
  timings+=("debootstrap $(seconds_since "$step")s")
  py=$(base_python "$workdir/rootfs")
  [[ -n "$py" ]] || die "the base has no python3"
  step=$(now)
  tar --numeric-owner -C "$workdir/rootfs" -c . | quietly "${podman_cmd[@]}" import \
    --change "LABEL io.podnet.base-hash=$base_hash" --change "LABEL io.podnet.python=$py" \
    --change 'CMD ["/bin/bash"]' - "$base_tag" || die "podman import failed"
  timings+=("base import $(seconds_since "$step")s")
  cleanup
  workdir=""
fi
base_id=$("${podman_cmd[@]}" image inspect --format '{{.Id}}' "$base_tag")
base_py=$(label_of "$base_tag" io.podnet.python)
host_py=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ "$host_py" == "$base_py" ]] \
  || die "$python is Python $host_py but the base's python3 is $base_py: its wheels would not fit"

# Everything that goes into the image: sources, recipe, dependency versions, base.
source_hash=$({
  find pyproject.toml cni_shim netagent ipamd podnetctl tools proto/podnet deploy/image \
    scripts/build-image.sh -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
    | sort -z | xargs -0 sha256sum
  "$python" -m pip freeze --exclude-editable 2>/dev/null
  echo "base $base_id"
} | sha256sum | cut -c1-16)

if ((!force)) && [[ "$(label_of "$tag" io.podnet.source-hash)" == "$source_hash" ]]; then
  echo "build-image: $tag is up to date (sources $source_hash)" >&2
  echo "$tag"
  exit 0
fi

workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/podnet-image.XXXXXX")
context=$workdir/context
mkdir -p "$context/wheels" "$context/pip"

echo "build-image: wheels of podnet and its dependencies" >&2
step=$(now)
"$python" -m pip freeze --exclude-editable > "$workdir/constraints.txt"
quietly "$python" -m pip wheel --wheel-dir "$context/wheels" \
  --constraint "$workdir/constraints.txt" . || die "pip wheel failed (output above)"
pip_version=$("$python" -m pip --version | awk '{ print $2 }')
quietly "$python" -m pip wheel --no-deps --wheel-dir "$context/pip" "pip==$pip_version" \
  || die "pip wheel pip failed (output above)"
timings+=("wheels $(seconds_since "$step")s")

echo "build-image: static shim" >&2
step=$(now)
if "$python" -m cni_shim.install --help | grep -q -- '--static'; then
  quietly "$python" -m cni_shim.install --static --bin-dir "$context" \
    || die "podnet-install-shim --static failed (output above)"
else
  compiler=$(command -v musl-gcc || command -v cc || command -v gcc) || die "no C compiler"
  "$compiler" -static -O2 -Wall -Wextra -Werror -std=c11 -o "$context/podnet" cni_shim/native/*.c \
    || die "$compiler -static failed"
fi
shim=$context/podnet
if readelf -lW "$shim" | grep -q 'INTERP' || readelf -dW "$shim" | grep -q '(NEEDED)'; then
  die "the shim is dynamically linked: $(readelf -dW "$shim" | grep '(NEEDED)' | tr -s ' ')"
fi
echo '{}' | env -i CNI_COMMAND=VERSION "$shim" | grep -q '"cniVersion"' \
  || die "the static shim does not answer VERSION"
timings+=("shim $(seconds_since "$step")s")

echo "build-image: podman build $tag (no network, no pull)" >&2
step=$(now)
quietly "${podman_cmd[@]}" build --pull=never --network none \
  --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
  --build-arg "BASE=$base_tag" --build-arg "VERSION=$version" \
  --label "io.podnet.source-hash=$source_hash" \
  --file deploy/image/Containerfile --tag "$tag" "$context" || die "podman build failed (output above)"
# The install stage and images this tag was taken from are left without a name.
quietly "${podman_cmd[@]}" image prune --force --filter label=io.podnet.stage=install || true
quietly "${podman_cmd[@]}" image prune --force --filter label=io.podnet.source-hash || true
timings+=("podman build $(seconds_since "$step")s")

size=$("${podman_cmd[@]}" image inspect --format '{{.Size}}' "$tag")
summary=$(IFS=,; echo "${timings[*]}" | sed 's/,/, /g')
echo "build-image: built $tag in $(seconds_since "$started")s ($summary);" \
  "$((size / 1000000)) MB" >&2
echo "$tag"
