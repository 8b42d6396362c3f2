#!/usr/bin/env bash
# Builds the Debian package of this tree with debhelper (debian/) and checks it with lintian:
#
#   bash scripts/package.sh [--version VERSION] [--output DIR]
#
# writes DIR/nctk_VERSION_ARCH.deb (DIR: out/) and prints its path last. VERSION (default: the
# first entry of debian/changelog) builds the same tree as another version, with a changelog
# entry of its own: tests/package uses it to build a "previous" package to upgrade from.
# As root it installs the build dependencies (Debian's archive only); the build itself uses no
# network. The tree is built as it is, uncommitted changes included (git's tracked and untracked,
# not ignored, files).
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
src=$PWD

say() { echo "package: $*" >&2; }
usage() { say "usage: bash scripts/package.sh [--version VERSION] [--output DIR]"; exit 2; }

version=
out=out
while [ $# -gt 0 ]; do
        case $1 in
        --version) [ $# -ge 2 ] || usage; version=$2; shift 2 ;;
        --output) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        *) usage ;;
        esac
done
# A Debian version: digits first, then letters, digits and . + ~ (no epoch, no revision:
# the package is native).
if [ -n "$version" ] && ! [[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
        say "--version '$version' is not a native Debian version (e.g. 0.1.0 or 0.1.0~rc1)"
        exit 2
fi

# What debian/control's Build-Depends names, plus dpkg-dev and lintian.
needs=(debhelper dpkg-dev libjansson-dev meson ninja-build pkg-config python3 lintian)
missing=()
for p in "${needs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
                say "missing packages ${missing[*]}; run as root to install them"
                exit 1
        fi
        say "installing ${missing[*]}"
        # shellcheck source=scripts/apt.sh
        . scripts/apt.sh
        apt_get update -qq
        apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$out/.package-build
rm -rf "$stage"
mkdir -p "$stage/nctk"
# The tree as it is; a copy, so that dpkg-buildpackage's own files stay out of the checkout.
if git -c safe.directory="$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -c safe.directory="$src" ls-files -z --cached --others --exclude-standard |
                tar --null -T - -cf - | tar -xf - -C "$stage/nctk"
else
        # Not a git checkout (a release tarball): everything but build output.
        tar --exclude=./out --exclude='./build*' --exclude='./.sim*' --exclude=./.git -cf - . |
                tar -xf - -C "$stage/nctk"
fi

if [ -n "$version" ]; then
        {
                echo "nctk ($version) unstable; urgency=medium"
                echo
                echo "  * Built by scripts/package.sh --version $version."
                echo
                echo " -- $(dpkg-parsechangelog -l debian/changelog -S Maintainer)  $(date -R)"
                echo
                cat debian/changelog
        } >"$stage/nctk/debian/changelog"
fi
version=$(dpkg-parsechangelog -l "$stage/nctk/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
deb=nctk_${version}_$arch.deb

say "building $deb"
(cd "$stage/nctk" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -b -us -uc >"$stage/build.log" 2>&1) || {
        tail -n 40 "$stage/build.log" >&2
        say "the build failed; its whole log: $stage/build.log"
        exit 1
}
changes=$stage/nctk_${version}_$arch.changes
# Clean means no error and no warning; overrides in debian/nctk.lintian-overrides say why.
lintian --fail-on error,warning --display-info "$changes" >"$stage/lintian.log" 2>&1 || {
        cat "$stage/lintian.log" >&2
        say "lintian found errors or warnings (above)"
        exit 1
}
[ ! -s "$stage/lintian.log" ] || sed 's/^/lintian: /' "$stage/lintian.log" >&2
mv "$stage/$deb" "$out/$deb"
rm -rf "$stage"
echo "$out/$deb"
