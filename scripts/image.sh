#!/usr/bin/env bash
# `make image`: the runtime image (default fleetbench:latest) assembled FROM scratch out of the
# locally built `coordinator`, `agent` and `sim` binaries and the shared libraries they load, so it
# builds on a machine with no registry access. deploy/image/Dockerfile is the multi-stage build
# for users who can pull the Rust and distroless base images; both give the same layout.
#
#   IMAGE_PROFILE=release|debug   which cargo profile's binaries (default release)
#   IMAGE_TAG=fleetbench:latest   the image's tag
#   IMAGE_BIN_DIR=DIR             take the binaries from DIR instead
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${IMAGE_PROFILE:-release}
tag=${IMAGE_TAG:-fleetbench:latest}
bin=${IMAGE_BIN_DIR:-${CARGO_TARGET_DIR:-/var/cache/fleetbench/target}/$profile}
command -v docker >/dev/null || { echo "make image: docker not found" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/root
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/work" "$root/home/nonroot"
chmod 1777 "$root/tmp"
for b in coordinator agent sim; do
  [ -x "$bin/$b" ] || { echo "make image: $bin/$b is missing (cargo build --$profile first)" >&2; exit 1; }
  cp "$bin/$b" "$root/usr/local/bin/"
  strip --strip-debug "$root/usr/local/bin/$b"
done
# Every shared library the binaries load, and the dynamic loader, at their own paths.
for b in coordinator agent sim; do
  ldd "$bin/$b" | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}'
done | sort -u | while read -r lib; do
  cp --parents -L "$lib" "$root/"
done
# HTTPS endpoints: the system's CA roots, where this machine has them.
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
chown -R 65532:65532 "$root/work" "$root/home/nonroot"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /work
CMD ["coordinator", "--help"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build --quiet -t "$tag" "$ctx" >/dev/null 2>&1 \
  || { echo "make image: docker build failed" >&2; DOCKER_BUILDKIT=0 docker build -t "$tag" "$ctx" >&2; exit 1; }
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "built $tag from $bin ($((size / 1024 / 1024)) MiB)"
