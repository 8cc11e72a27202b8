#!/usr/bin/env bash
# An offline base image: a Debian root file system built from the Debian package archive
# (debootstrap, no image registry needed), trimmed and imported into Docker.
#   bash build-base.sh [IMAGE] [PACKAGES]   (default py-code-mode-base:bookworm, python3)
# The deploy test's edge image (Redis and nginx from Debian's packages):
#   bash build-base.sh py-code-mode-edge:bookworm redis-server,nginx-light
set -euo pipefail
IMAGE="${1:-py-code-mode-base:bookworm}"
PACKAGES="${2:-python3}"
MIRROR="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >/dev/null
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/cache/apt/*
tar -C "$ROOTFS" -c . | docker import - "$IMAGE" >/dev/null
echo "imported $IMAGE"
