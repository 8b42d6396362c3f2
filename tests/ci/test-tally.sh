#!/usr/bin/env bash
# scripts/results.sh, the bookkeeping of scripts/test.sh, against made-up meson test logs: a skip
# (a SKIP result or a TAP `ok N - name # SKIP`) is never a pass, fails the run as root and only
# shows as not root; failing steps return their status. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
nbad=0

check() {
        n=$((n + 1))
        if eval "$2"; then
                echo "ok $n - $1"
        else
                echo "not ok $n - $1"
                echo "# the condition: $2"
                [ -z "${out:-}" ] || printf '# output:\n%s\n' "$out" | sed 's/^/# /'
                nbad=$((nbad + 1))
        fi
}

# testlog DIR JSON...: DIR/meson-logs/testlog.json with one result a line, as meson writes it.
testlog() {
        local dir=$work/$1
        shift
        mkdir -p "$dir/meson-logs"
        printf '%s\n' "$@" >"$dir/meson-logs/testlog.json"
}

testlog clean \
        '{"name": "nctk:unit / plan", "result": "OK", "returncode": 0, "stdout": "1..2\nok 1 - test_mig_config_skips_access\n# SKIP in a comment is not a directive\nok 2 - b\n"}' \
        '{"name": "nctk:fuzz / toml", "result": "OK", "returncode": 0, "stdout": ""}'
testlog skips \
        '{"name": "nctk:unit / plan", "result": "OK", "returncode": 0, "stdout": "1..1\nok 1 - a\n"}' \
        '{"name": "nctk:engines / engines", "result": "SKIP", "returncode": 0, "stdout": "1..0 # SKIP docker.io, containerd, podman, docker-compose not installed\n"}' \
        '{"name": "nctk:e2e / hook", "result": "OK", "returncode": 0, "stdout": "ok 1 - plain\nok 2 - docker --gpus all # SKIP hook/shim does not answer\nok 3 # skip test_cmocka_style\n1..3\n"}'
testlog fails \
        '{"name": "nctk:unit / strv", "result": "FAIL", "returncode": 1, "stdout": "1..1\nnot ok 1 - a\n"}' \
        '{"name": "nctk:sim / sim", "result": "TIMEOUT", "returncode": -15, "stdout": "1..5\nok 1 - a\n"}'
mkdir -p "$work/nolog"

# A scenario, in a subshell of its own (results.sh keeps its totals in globals): prints what
# results_summary prints, then "status N".
scenario() {
        local as_root=$1
        shift
        (
                # shellcheck source=scripts/results.sh
                . scripts/results.sh
                skips_fail=$as_root
                exec 3>&1 1>/dev/null
                for dir in "$@"; do
                        tally "$work/$dir" "tests ($dir)" 0
                done
                exec 1>&3
                results_summary
                echo "status $?"
        )
}

out=$(scenario 1 clean)
check "clean, as root: passes" '[[ $out == *"status 0" ]]'
check "clean: counts each meson test once, ignores '# SKIP' comments" \
        '[[ $out == *"2 passed, 0 failed, 0 skipped"* ]] && [[ $out != *skipped:* ]]'

out=$(scenario 1 clean skips)
check "skips, as root: the run fails" '[[ $out == *"status 1" ]]'
check "skips, as root: counted apart, 3 skips, nothing counted as a pass" \
        '[[ $out == *"4 passed, 0 failed, 3 skipped"* ]]'
check "skips, as root: the SKIP result is named on the failed: line" \
        '[[ $(grep "^failed:" <<<"$out") == *"tests (skips): nctk:engines / engines (skipped: docker.io"* ]]'
check "skips, as root: the TAP subtest skips are named on the failed: line" \
        '[[ $(grep "^failed:" <<<"$out") == *"nctk:e2e / hook: docker --gpus all (skipped: hook/shim does not answer)"* ]] &&
         [[ $(grep "^failed:" <<<"$out") == *"nctk:e2e / hook: test_cmocka_style"* ]]'
check "the summary is the last line" \
        '[[ $(tail -n 2 <<<"$out" | head -n 1) == "4 passed, 0 failed, 3 skipped" ]]'

out=$(scenario 0 clean skips)
check "skips, not root: the run passes" '[[ $out == *"status 0" ]]'
check "skips, not root: listed on a skipped: line, no failed: line" \
        '[[ $out == *"skipped: tests (skips): nctk:engines / engines"* ]] && [[ $out != *failed:* ]] &&
         [[ $out == *"4 passed, 0 failed, 3 skipped"* ]]'

out=$(scenario 0 fails)
check "failures fail the run even when not root, by name" \
        '[[ $out == *"status 1" ]] && [[ $out == *"0 passed, 2 failed, 0 skipped"* ]] &&
         [[ $out == *"failed: tests (fails): nctk:unit / strv (FAIL); tests (fails): nctk:sim / sim (TIMEOUT)"* ]]'

out=$(scenario 0 nolog)
check "a run that wrote no test log is a failure" '[[ $out == *"status 1" ]] && [[ $out == *"0 passed, 1 failed"* ]]'

out=$(
        # shellcheck source=scripts/results.sh
        . scripts/results.sh
        skips_fail=0
        tally "$work/clean" "tests (clean)" 1 >/dev/null
        results_summary
        echo "status $?"
)
check "meson test failing with every result OK is a failure" \
        '[[ $out == *"status 1" ]] && [[ $out == *"meson test exit status 1"* ]]'

out=$(
        # shellcheck source=scripts/results.sh
        . scripts/results.sh
        # shellcheck disable=SC2034  # read by results_summary (shellcheck -x follows it)
        skips_fail=1
        step "yes" true >/dev/null
        echo "true: $?"
        step "no" sh -c 'exit 3' >/dev/null
        echo "exit 3: $?"
        if step "install" false >/dev/null; then echo "suite ran"; else not_run "suite" "the install failed"; fi
        results_summary
        echo "status $?"
)
check "step returns its command's status" '[[ $out == *"true: 0"* ]] && [[ $out == *"exit 3: 3"* ]]'
check "a failed step keeps what depends on it from running, as a skip" \
        '[[ $out != *"suite ran"* ]] && [[ $out == *"1 passed, 2 failed, 1 skipped"* ]] &&
         [[ $out == *"suite (not run: the install failed)"* ]] && [[ $out == *"status 1" ]]'

out=$(
        # shellcheck source=scripts/results.sh
        . scripts/results.sh
        skips_fail=0
        step_failed "fuzz toml" "the fuzz build made no build-fuzz/tests/fuzz/fuzz-toml" >/dev/null
        echo "step_failed: $?"
        results_summary
        echo "status $?"
)
check "step_failed counts a failure that had no command to run, by name, and returns 1" \
        '[[ $out == *"step_failed: 1"* ]] && [[ $out == *"0 passed, 1 failed, 0 skipped"* ]] &&
         [[ $out == *"failed: fuzz toml (the fuzz build made no build-fuzz/tests/fuzz/fuzz-toml)"* ]] &&
         [[ $out == *"status 1" ]]'

# suite, with meson a stand-in: under --wrap=valgrind meson writes testlog-valgrind.json, and a
# testlog.json left from an earlier run must not be counted.
mkdir -p "$work/wrapped/meson-logs"
printf '%s\n' '{"name": "nctk:unit / stale", "result": "OK", "returncode": 0, "stdout": ""}' \
        >"$work/wrapped/meson-logs/testlog.json"
out=$(
        # shellcheck source=scripts/results.sh
        . scripts/results.sh
        skips_fail=1
        meson() {
                printf '%s\n' '{"name": "nctk:unit / strv", "result": "OK", "returncode": 0, "stdout": "1..1\nok 1 - a\n"}' \
                        '{"name": "nctk:unit / ldcache", "result": "OK", "returncode": 0, "stdout": "1..2\nok 1 - a\nok 2 - test_loader # SKIP chroot needs root\n"}' \
                        >"$work/wrapped/meson-logs/testlog-valgrind.json"
        }
        suite "$work/wrapped" "under valgrind" --wrap='valgrind --quiet' >/dev/null
        results_summary
        echo "status $?"
)
check "suite counts a wrapped run from meson's testlog-WRAPPER.json, not an old testlog.json" \
        '[[ $out == *"2 passed, 0 failed, 1 skipped"* ]] && [[ $out != *stale* ]] &&
         [[ $out == *"under valgrind: nctk:unit / ldcache: test_loader (skipped: chroot needs root)"* ]] &&
         [[ $out == *"status 1" ]]'

echo "1..$n"
[ "$nbad" -eq 0 ]
