#!/usr/bin/env bash
# Builds nctk and runs every test: unit, fuzz-corpus replay, simulated driver and integration
# suites with gcc; again under ASan/UBSan and valgrind; real container engines (docker, containerd,
# podman, compose; installed here); a clang build; a short fuzzing pass.
# This is the README's test command, and what CI runs (.ci/run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash scripts/deps.sh || exit 1

passed=0
failed=0
failures=()

# Adds the results of DIR's last `meson test` run to the totals.
tally() {
        local dir=$1 label=$2 p f
        read -r p f < <(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL", "SKIP"):
        p += 1
    else:
        f += 1
print(p, f)
PY
)
        passed=$((passed + p))
        failed=$((failed + f))
        [ "$f" -eq 0 ] || failures+=("$label")
}

step() {
        local label=$1
        shift
        echo "== $label"
        if "$@"; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                failures+=("$label")
        fi
}

suite() {
        local dir=$1 label=$2
        shift 2
        echo "== $label"
        meson test -C "$dir" --print-errorlogs --no-rebuild "$@" | tail -n 12
        tally "$dir" "$label"
}

step "shellcheck" shellcheck -S warning scripts/*.sh tests/device/*.sh tests/sim/test-sim.sh bench/*.sh .ci/run
if step "build (gcc)" bash scripts/build.sh build; then
        suite build "tests (gcc)" --no-suite engines
        suite build "unit tests under valgrind" --suite unit --suite fuzz \
                --wrap='valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --trace-children=no'
        # Real docker, containerd, podman and docker-compose (scripts/engines.sh), with the gcc build.
        if step "engines: install docker.io containerd podman docker-compose" \
                bash -c '. scripts/engines.sh && engines_install'; then
                suite build "real engines (docker, containerd, podman, compose)" --suite engines
        fi
fi
if step "build (gcc, ASan+UBSan)" bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 suite build-asan "tests (ASan+UBSan)" --no-suite engines
fi
step "build (clang)" env CC=clang bash scripts/build.sh build-clang
step "build (gcc, release, _FORTIFY_SOURCE=3)" bash scripts/build.sh build-release --buildtype=release -Dc_args=-D_FORTIFY_SOURCE=3
if step "build (clang, libFuzzer)" env CC=clang bash scripts/build.sh build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dtests=false; then
        for f in build-fuzz/tests/fuzz/fuzz-*; do
                [ -f "$f" ] && [ -x "$f" ] || continue
                t=$(basename "$f" | sed 's/^fuzz-//')
                # Fuzz a copy: new inputs found here must not change the checkout.
                work=$(mktemp -d)
                cp -r "tests/fuzz/corpus/$t/." "$work/"
                step "fuzz $t (20 s)" sh -c '"$1" -max_total_time=20 -timeout=10 -rss_limit_mb=2048 \
                        -artifact_prefix="$2/" "$2" >"$2.log" 2>&1 || { tail -n 30 "$2.log"; false; }' \
                        sh "$f" "$work"
                rm -rf "$work" "$work.log"
        done
fi

echo
if [ "${#failures[@]}" -gt 0 ]; then
        echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
