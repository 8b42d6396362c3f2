#!/usr/bin/env bash
# Installs what building and testing nctk needs on Debian 12, and nothing when it is all there.
set -euo pipefail

packages=(
        meson ninja-build pkg-config gcc clang libc6-dev
        libjansson-dev libcmocka-dev libclang-rt-14-dev
        valgrind python3 busybox-static runc crun shellcheck codespell clang-format patch
        python3-yaml musl-tools scdoc
        debhelper debootstrap lintian
        # The integration tests read our edits of containerd's config back with its own
        # `containerd config dump` (no daemon); the engine suites install the rest.
        containerd
)

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
                echo "deps: missing packages ${missing[*]}; run as root to install them" >&2
                exit 1
        fi
        echo "deps: installing ${missing[*]}"
        # shellcheck source=scripts/apt.sh
        . "$(dirname "$0")/apt.sh"
        apt_get update -qq
        apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
