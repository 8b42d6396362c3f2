#!/usr/bin/env bash
# Builds nctk and runs every test: unit, fuzz-corpus replay, simulated driver and integration
# suites with gcc; again under ASan/UBSan and valgrind; real container engines (docker, containerd,
# podman, compose; installed here); a clang build; a short fuzzing pass.
# This is the README's test command, and what CI runs (.ci/run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash scripts/deps.sh || exit 1
# tests/package caches its Debian 12 tree in the build directory for one run, never longer.
rm -rf build/package-test-cache

# step, suite, not_run, results_summary and the totals; as root a skip fails the run.
# shellcheck source=scripts/results.sh
. scripts/results.sh

# Spelling in every tracked file but the fuzz corpus (codespell passes over binary files) and the
# raw logs from the GPU machine (they hold other programs' words, misspelt ones included).
# .codespellignore: project words ("sover", a soname's version in tests/sim/nctk-sim); the regex
# drops C escapes, which glue their letter to the next word ("\nd = 1" in tests/unit/test-toml.c).
# safe.directory: a CI checkout may belong to another user; this script builds and runs it anyway.
spelling() {
        git -c safe.directory="$PWD" ls-files -z -- . ':!tests/fuzz/corpus' ':!tests/device/results/*.log' |
                xargs -0 -r codespell -I .codespellignore --ignore-regex '\\[abfnrtv]'
}

step "shellcheck" shellcheck -S warning scripts/*.sh tests/ci/*.sh tests/device/*.sh tests/sim/test-sim.sh \
        examples/*/*/*.sh bench/*.sh .ci/run deploy/nvidia-cdi-refresh
step "codespell" spelling
# The whole tree is clang-format clean (.clang-format), and stays so.
step "clang-format" bash -c "git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run -Werror"
step "test.sh's own bookkeeping (tests/ci/test-tally.sh)" bash tests/ci/test-tally.sh
if step "build (gcc)" bash scripts/build.sh build; then
        suite build "tests (gcc)" --no-suite engines
        suite build "unit tests under valgrind" --suite unit --suite fuzz \
                --wrap='valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --trace-children=no'
        # Real docker, containerd, podman and docker-compose (scripts/engines.sh), with the gcc build.
        # A failed install is a failure, and the suite it leaves out is counted as not run.
        engines="real engines (docker, containerd, podman, compose)"
        if step "engines: install docker.io containerd podman docker-compose" \
                bash -c '. scripts/engines.sh && engines_install'; then
                suite build "$engines" --suite engines
        else
                not_run "$engines" "the install failed"
        fi
else
        not_run "tests (gcc), under valgrind and with the real engines" "the build failed"
fi
if step "build (gcc, ASan+UBSan)" bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 suite build-asan "tests (ASan+UBSan)" --no-suite engines
else
        not_run "tests (ASan+UBSan)" "the build failed"
fi
step "build (clang)" env CC=clang bash scripts/build.sh build-clang
step "build (gcc, release, _FORTIFY_SOURCE=3)" bash scripts/build.sh build-release --buildtype=release -Dc_args=-D_FORTIFY_SOURCE=3
if step "build (clang, libFuzzer)" env CC=clang bash scripts/build.sh build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dtests=false; then
        # Every target with a kept corpus or a fuzz binary. After a build that succeeded, one
        # without the other, or no target at all, is a failure (not a silent pass of nothing).
        targets=$({
                ls tests/fuzz/corpus
                ls build-fuzz/tests/fuzz | sed -n 's/^fuzz-\([^.]*\)$/\1/p'
        } 2>/dev/null | sort -u)
        [ -n "$targets" ] || step_failed "fuzzing" "no fuzz target (tests/fuzz/corpus/*, build-fuzz/tests/fuzz/fuzz-*)"
        for t in $targets; do
                f=build-fuzz/tests/fuzz/fuzz-$t
                if [ ! -f "$f" ] || [ ! -x "$f" ]; then
                        step_failed "fuzz $t" "the fuzz build made no $f"
                        continue
                fi
                if [ ! -d "tests/fuzz/corpus/$t" ]; then
                        step_failed "fuzz $t" "no corpus tests/fuzz/corpus/$t"
                        continue
                fi
                # Fuzz a copy: new inputs found here must not change the checkout.
                work=$(mktemp -d)
                cp -r "tests/fuzz/corpus/$t/." "$work/"
                step "fuzz $t (20 s)" sh -c '"$1" -max_total_time=20 -timeout=10 -rss_limit_mb=2048 \
                        -artifact_prefix="$2/" "$2" >"$2.log" 2>&1 || { tail -n 30 "$2.log"; false; }' \
                        sh "$f" "$work"
                rm -rf "$work" "$work.log"
        done
else
        not_run "fuzzing" "the build failed"
fi

results_summary
