#!/bin/sh
# Regenerates the seed corpus of fuzz-elf (tests/fuzz/corpus/elf): small stripped shared objects
# of every class and machine the reader distinguishes, plus truncated and malformed headers.
# Needs cc (x86-64, -m32, -mx32) and, for the arm seeds, clang with ld.lld.
set -eu
out=$(cd "$(dirname "$0")" && pwd)/corpus/elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
echo 'int f(void) { return 1; }' > "$tmp/f.c"
# so COMPILER ARGS...: a small shared object without libc.
so() {
        "$@" -shared -fPIC -nostdlib -Wl,--build-id=none -Wl,-z,noseparate-code \
                -Wl,-z,max-page-size=4096
}
so cc -Wl,-soname,libseed.so.1 -o "$tmp/x86_64.so" "$tmp/f.c"
so cc -o "$tmp/x86_64-nosoname.so" "$tmp/f.c"
so cc -m32 -Wl,-soname,libseed32.so.1 -o "$tmp/i386.so" "$tmp/f.c"
so cc -m32 -Wl,-soname,libc.so.6 -o "$tmp/libc32.so" "$tmp/f.c"
so cc -m32 -Wl,-soname,libseed32c.so.1 -o "$tmp/i386-libc.so" "$tmp/f.c" \
        -Wl,--no-as-needed "$tmp/libc32.so"
# ld gives PT_INTERP to executables only: a PIE is ET_DYN too.
cc -m32 -nostdlib -fPIE -pie -Wl,-e,0 -Wl,--dynamic-linker,/lib/ld-linux.so.2 \
        -Wl,-soname,libinterp.so.1 -o "$tmp/i386-interp.so" "$tmp/f.c"
so cc -mx32 -Wl,-soname,libseedx32.so.1 -o "$tmp/x32.so" "$tmp/f.c"
printf '.section .note.GNU-stack,"",@progbits\n.section .note.gnu.property,"a"\n.p2align 3\n.long 4, 16, 5\n.asciz "GNU"\n.long 0xc0008002, 4, 4, 0\n' > "$tmp/p.s"
cc -c -o "$tmp/p.o" "$tmp/p.s"
so cc -Wl,-soname,libisa.so.1 -o "$tmp/x86_64-isa.so" "$tmp/f.c" "$tmp/p.o"
if so clang --target=aarch64-linux-gnu -fuse-ld=lld -Wl,-soname,libseeda64.so.1 \
        -o "$tmp/aarch64.so" "$tmp/f.c" 2>/dev/null; then
        so clang --target=armv7a-linux-gnueabihf -fuse-ld=lld -Wl,-soname,libhf.so.1 \
                -o "$tmp/armhf.so" "$tmp/f.c"
        so clang --target=armv7a-linux-gnueabi -mfloat-abi=soft -fuse-ld=lld \
                -Wl,-soname,libsf.so.1 -o "$tmp/armsf.so" "$tmp/f.c"
fi
for f in "$tmp"/*.so; do
        strip --strip-all "$f" 2>/dev/null || true
        cp "$f" "$out/$(basename "$f" .so)"
done
rm -f "$out/libc32"
head -c 64 "$tmp/x86_64.so" > "$out/trunc-ehdr"
head -c 200 "$tmp/x86_64.so" > "$out/trunc-phdrs"
head -c 1000 "$tmp/x86_64.so" > "$out/trunc-mid"
printf '\013\001\144\000' > "$out/aout" && head -c 96 /dev/zero >> "$out/aout"
printf 'INPUT(libc.so.6)\n/* GNU ld script */\n' > "$out/ldscript"
