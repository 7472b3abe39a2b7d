#!/usr/bin/env bash
# Build the container image from Containerfile with podman or docker (`make image`).
#
# The build reaches no Python package index: the wheels of the package's runtime dependencies, at
# the versions in .venv (what the tests ran), are made here first under build/image/wheels, and
# the image installs only from them. When the engine has no debian:bookworm-slim, the base is made
# from Debian's packages with mmdebstrap (no registry needed), or pulled if mmdebstrap is missing.
#
# Environment: IMAGE (default browser-worker:latest), CONTAINER_ENGINE (podman or docker; default
# podman if installed, else docker), CONTAINERS_CONF (podman; default deploy/podman/containers.conf
# when runc is installed: the settings machines like the CI hosts need).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-browser-worker:latest}"
BASE=docker.io/library/debian:bookworm-slim
OUT=build/image
PY=.venv/bin/python

say() { echo "build_image: $*" >&2; }

engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  for candidate in podman docker; do
    if command -v "$candidate" >/dev/null 2>&1; then engine="$candidate"; break; fi
  done
fi
if [ -z "$engine" ]; then
  say "neither podman nor docker is installed (Debian: apt-get install podman mmdebstrap runc)"
  exit 1
fi
if [ "$engine" = podman ] && [ -z "${CONTAINERS_CONF:-}" ] && command -v runc >/dev/null 2>&1; then
  export CONTAINERS_CONF="$PWD/deploy/podman/containers.conf"
fi
if [ ! -x "$PY" ]; then
  say "no .venv: run 'make setup' first (the wheelhouse is made from its pinned versions)"
  exit 1
fi
t0=$(date +%s)

# 1. The wheelhouse: remade only when the dependencies or their pinned versions change.
mkdir -p "$OUT/wheels" "$OUT/app"
"$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
  > "$OUT/requirements.new"
"$PY" -m pip freeze --exclude-editable | grep -v -i -e '^browser[-_]worker' -e ' @ ' > "$OUT/constraints.new" || true
if [ ! -f "$OUT/wheels/.complete" ] \
   || ! cmp -s "$OUT/requirements.new" "$OUT/wheels/requirements.txt" \
   || ! cmp -s "$OUT/constraints.new" "$OUT/wheels/constraints.txt"; then
  say "making the wheelhouse ($OUT/wheels)"
  rm -rf "$OUT/wheels" && mkdir -p "$OUT/wheels"
  "$PY" -m pip wheel -q --disable-pip-version-check --wheel-dir "$OUT/wheels" \
    -r "$OUT/requirements.new" -c "$OUT/constraints.new"
  mv "$OUT/requirements.new" "$OUT/wheels/requirements.txt"
  mv "$OUT/constraints.new" "$OUT/wheels/constraints.txt"
  touch "$OUT/wheels/.complete"
else
  rm -f "$OUT/requirements.new" "$OUT/constraints.new"
fi

# 2. The package's wheel without static/ (the image has it in a layer of its own). Hatch writes
# fixed timestamps, so unchanged code gives the same bytes; the file from before is then kept
# as it is (the engine's cache key includes its time), so the image's last step stays cached.
src="$OUT/src"
rm -rf "$src" "$OUT/app.new" && mkdir -p "$src/static" "$OUT/app.new"
cp -r pyproject.toml README.md browser_worker templates "$src/"
find "$src" -name __pycache__ -prune -exec rm -rf {} +
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir "$OUT/app.new" "./$src"
if ! diff -rq "$OUT/app.new" "$OUT/app" >/dev/null 2>&1; then
  rm -rf "$OUT/app" && mv "$OUT/app.new" "$OUT/app"
fi
rm -rf "$OUT/app.new" "$src"

# 3. The base image, made from Debian's packages when the engine does not have it.
has_image() {
  if [ "$engine" = podman ]; then podman image exists "$1"; else docker image inspect "$1" >/dev/null 2>&1; fi
}
if ! has_image "$BASE"; then
  if command -v mmdebstrap >/dev/null 2>&1; then
    mirror=$(apt-get indextargets --format '$(REPO_URI)' 2>/dev/null | grep -m1 '/debian/$' || true)
    mirror="${mirror:-http://deb.debian.org/debian/}"
    say "no $BASE: making it with mmdebstrap from $mirror"
    mkdir -p build/base
    # Like Debian's own slim image: no documentation, manual pages or translations.
    slim=()
    for dir in doc man info locale; do slim+=(--dpkgopt="path-exclude=/usr/share/$dir/*"); done
    mmdebstrap --quiet --variant=minbase --include=ca-certificates "${slim[@]}" \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' bookworm build/base/bookworm-slim.tar "$mirror"
    "$engine" import build/base/bookworm-slim.tar "$BASE" >/dev/null
    rm -f build/base/bookworm-slim.tar
  else
    say "no $BASE and no mmdebstrap: pulling it"
    "$engine" pull "$BASE"
  fi
fi

# 4. The image. Podman writes Docker's format: OCI images have no HEALTHCHECK.
args=(build --network host -f Containerfile -t "$IMAGE")
if [ "$engine" = podman ]; then args+=(--pull=never --format docker); fi
say "$engine ${args[*]} ."
"$engine" "${args[@]}" .

size=$("$engine" image inspect --format '{{.Size}}' "$IMAGE")
say "built $IMAGE with $engine in $(( $(date +%s) - t0 )) s; image size $(( size / 1000000 )) MB"
