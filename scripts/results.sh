#!/usr/bin/env bash
# The totals of scripts/test.sh (sourced there, and by tests/ci/test-tally.sh): steps and meson
# suites add to them, results_summary prints them. A skip is never a pass; run as root (as CI is,
# with the engines installed) every suite is required, so there a skip fails the run.

passed=0
failed=0
skipped=0
failures=()  # "LABEL: what", for the failed: line
skips=()     # the same, for what skipped
# 1: skips fail the run. Only root can run every suite (mknod, mounts, the engines).
skips_fail=0
[ "$(id -u)" -ne 0 ] || skips_fail=1

# Runs CMD... as one step named LABEL, counts it, and returns CMD's status.
step() {
        local label=$1 rc=0
        shift
        echo "== $label"
        "$@" || rc=$?
        if [ "$rc" -eq 0 ]; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                failures+=("$label (exit status $rc)")
        fi
        return "$rc"
}

# Counts LABEL, which did not run because of WHY, as a skip.
not_run() {
        skipped=$((skipped + 1))
        skips+=("$1 (not run: $2)")
}

# Counts LABEL as failed because of WHY, for a step that cannot even start; returns 1.
step_failed() {
        echo "== $1: $2"
        failed=$((failed + 1))
        failures+=("$1 ($2)")
        return 1
}

# Runs `meson test -C DIR ARGS...` as LABEL and counts its results; returns 1 when one failed.
suite() {
        local dir=$1 label=$2 rc logs
        shift 2
        echo "== $label"
        # A run that dies before writing its log must not be counted from the previous run's log.
        rm -f "$dir"/meson-logs/testlog*.json
        meson test -C "$dir" --print-errorlogs --no-rebuild "$@" | tail -n 12
        rc=${PIPESTATUS[0]}
        # Under --wrap=PROGRAM meson names the log after it (testlog-valgrind.json): the one there.
        logs=("$dir"/meson-logs/testlog*.json)
        tally "$dir" "$label" "$rc" "${logs[0]}"
}

# Adds the results of DIR's last `meson test` run (its exit status RC; its log LOG, by default
# DIR/meson-logs/testlog.json) to the totals, as LABEL:
# each test that passed, failed or skipped, and each TAP subtest that reported `ok N ... # SKIP`
# inside a test that passed (meson counts that test OK). Returns 1 when something failed.
tally() {
        local dir=$1 label=$2 rc=${3:-0} log=${4:-$1/meson-logs/testlog.json} out kind what f0=$failed
        if [ ! -f "$log" ]; then
                failed=$((failed + 1))
                failures+=("$label: no test ran (no $log; meson test exit status $rc)")
                return 1
        fi
        if ! out=$(python3 - "$log" <<'PY'
import json, re, sys

# A TAP test line with a SKIP directive, as meson reads one (mtest.TAPParser): `ok`, a number,
# a description, `# SKIP reason`; cmocka writes `ok N # SKIP name`. Case-insensitive "skip".
SKIP = re.compile(r"ok\b\s*(?:[0-9]+\b)?\s*(?:-\s*)?([^#]*?)\s*#\s*(?i:skip)\S*\s*(.*)")
PLAN_SKIP = re.compile(r"1\.\.0\b\s*#\s*(?i:skip)\S*\s*(.*)")

for line in open(sys.argv[1]):
    r = json.loads(line)
    name, result, stdout = r["name"], r["result"], r.get("stdout") or ""
    if result == "SKIP":
        why = [m.group(1) for m in map(PLAN_SKIP.match, stdout.splitlines()) if m]
        why = why[0] if why else f"exit status {r.get('returncode')}"
        print(f"skip\t{name} (skipped: {why})")
    elif result in ("OK", "EXPECTEDFAIL"):
        print(f"pass\t{name}")
        for m in map(SKIP.match, stdout.splitlines()):
            if m:
                print(f"skip\t{name}: {m.group(1) or m.group(2)} (skipped: {m.group(2)})")
    else:
        print(f"fail\t{name} ({result})")
PY
); then
                failed=$((failed + 1))
                failures+=("$label: cannot read $log")
                return 1
        fi
        if [ -z "$out" ]; then
                failed=$((failed + 1))
                failures+=("$label: no test ran (empty $log; meson test exit status $rc)")
                return 1
        fi
        while IFS=$'\t' read -r kind what; do
                case $kind in
                pass) passed=$((passed + 1)) ;;
                fail) failed=$((failed + 1)); failures+=("$label: $what") ;;
                skip) skipped=$((skipped + 1)); skips+=("$label: $what") ;;
                esac
        done <<<"$out"
        if [ "$rc" -ne 0 ] && [ "$failed" -eq "$f0" ]; then
                failed=$((failed + 1))
                failures+=("$label: meson test exit status $rc")
        fi
        [ "$failed" -eq "$f0" ]
}

# Prints what failed and what skipped, then `N passed, N failed, N skipped`; returns 1 when the
# run failed: something failed, or something skipped and skips_fail is 1.
results_summary() {
        local bad=("${failures[@]}")
        echo
        [ "${#skips[@]}" -eq 0 ] || printf 'skipped: %s\n' "$(results_join "${skips[@]}")"
        if [ "$skips_fail" -eq 1 ] && [ "${#skips[@]}" -gt 0 ]; then
                echo "run as root, every suite is required: the ${#skips[@]} skips above fail the run"
                bad+=("${skips[@]}")
        fi
        [ "${#bad[@]}" -eq 0 ] || printf 'failed: %s\n' "$(results_join "${bad[@]}")"
        echo "$passed passed, $failed failed, $skipped skipped"
        [ "${#bad[@]}" -eq 0 ]
}

results_join() {
        local s
        printf -v s '%s; ' "$@"
        printf '%s' "${s%; }"
}
