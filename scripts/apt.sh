# shellcheck shell=bash
# apt_get ARGS...: apt-get, waiting for another apt or dpkg (unattended-upgrades on a fresh
# machine) to let go of its locks instead of failing on them. Sourced by deps.sh and engines.sh.
apt_get() {
        local err tries=0 rc
        err=$(mktemp)
        while :; do
                rc=0
                DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>"$err" || rc=$?
                if [ "$rc" -eq 0 ] || ! grep -q "Could not get lock\|is locked\|Unable to lock" "$err" ||
                        [ "$tries" -ge 60 ]; then
                        cat "$err" >&2
                        rm -f "$err"
                        return "$rc"
                fi
                tries=$((tries + 1))
                echo "apt: waiting for another package manager to finish ($tries)" >&2
                sleep 10
        done
}
