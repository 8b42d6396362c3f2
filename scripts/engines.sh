#!/usr/bin/env bash
# Real container engines for tests, run side by side with anything else on the machine:
# dockerd (docker.io 20.10), a standalone containerd 1.6 (ctr), podman 4.3 and docker-compose 1.29,
# each with its own sockets, state directories and configuration, none of them the system's.
#
# Source it and call the functions, or run it: `bash scripts/engines.sh install|start|stop|env`.
#
#   engines_install                 apt-get install what is missing (as scripts/deps.sh does)
#   engines_start                   stop anything left by an earlier run, start containerd, then dockerd
#   engines_start_containerd        containerd alone (the docker daemon uses it too)
#   engines_start_docker [JSON [DIR]]
#                                   (re)start dockerd with daemon.json JSON (the test writes it:
#                                   runtimes, default-runtime) and DIR first on its PATH (where
#                                   dockerd looks up nvidia-container-runtime-hook, once, at start)
#   engines_import TAR NAME         import a root filesystem tar as image NAME into all three:
#                                   docker `NAME`, containerd `docker.io/library/NAME:latest`,
#                                   podman `localhost/NAME`
#   engines_stop                    remove every container, stop every daemon and shim, unmount
#                                   and delete everything started or created here; idempotent
#   engines_trap                    `trap engines_stop EXIT INT TERM`, for shell tests
#   engines_env                     KEY=VALUE lines: where the sockets, wrappers and files are
#
# The clients are wrappers in $NCTK_ENGINES_DIR/bin (docker, ctr, podman, docker-compose) that
# talk to these daemons and this storage only; put that directory first on PATH to use them.
# The daemons inherit the caller's environment (e.g. NVIDIA_CTK_CONFIG_FILE_PATH), so that the
# hooks and runtimes they start see it.

NCTK_ENGINES_DIR=${NCTK_ENGINES_DIR:-/var/lib/nctk-test-engines}
NCTK_ENGINES_RUN=${NCTK_ENGINES_RUN:-/run/nctk-test}
NCTK_DOCKER_SOCK=$NCTK_ENGINES_RUN/docker.sock
NCTK_CONTAINERD_SOCK=$NCTK_ENGINES_RUN/containerd.sock
# Our own containerd namespace: its runc state (/run/containerd/runc/NS) and cgroup (/NS/ID) are ours.
NCTK_CTR_NAMESPACE=nctk-test
# Debian's client; a docker CLI of another version may come first on PATH (/usr/local/bin).
NCTK_DOCKER_BIN=/usr/bin/docker

# Packages, and a command each must provide (none: a library, checked by the test that uses it).
# python3-grpcio: the CRI client of tests/e2e/test-cri.py (kubelet's side of containerd's CRI).
_engines_packages=(docker.io:dockerd containerd:containerd podman:podman docker-compose:docker-compose
        python3-grpcio:)
# Paths the engines create outside their own directories whatever they are told (dockerd's plugin
# directory, the runc shim's sockets, fifos and runc state, podman's blob cache): removed at stop
# when they did not exist at start.
_engines_system_paths=(/run/docker /run/containerd /var/lib/containers /etc/cni)
# The cgroups they create (cgroupfs driver: docker/ID; containerd: NAMESPACE/ID; podman).
_engines_cgroups=(docker nctk-test libpod_parent)

_engines_log() { echo "engines: $*" >&2; }

# Everything below these two is deleted at stop: refuse anything short or relative.
_engines_sane() {
        case $NCTK_ENGINES_DIR:$NCTK_ENGINES_RUN in
        /?*/?*:/?*/?*) ;;
        *) _engines_log "refusing NCTK_ENGINES_DIR=$NCTK_ENGINES_DIR NCTK_ENGINES_RUN=$NCTK_ENGINES_RUN"; return 1 ;;
        esac
}

engines_install() {
        local missing=() p
        for p in "${_engines_packages[@]}"; do
                dpkg-query -W -f='${Status}' "${p%%:*}" 2>/dev/null | grep -q 'install ok installed' ||
                        missing+=("${p%%:*}")
        done
        [ "${#missing[@]}" -eq 0 ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
                _engines_log "missing packages ${missing[*]}; run as root to install them"
                return 1
        fi
        _engines_log "installing ${missing[*]}"
        # No init system here: the packages' postinst must not start the system's daemons.
        # Debian's policy-rc.d convention does that, when the machine has none of its own.
        local policy=/usr/sbin/policy-rc.d made_policy=
        if [ ! -e "$policy" ]; then
                printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
        fi
        local rc=0
        # shellcheck source=scripts/apt.sh
        . "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
        apt_get update -qq || rc=$?
        [ "$rc" -ne 0 ] || apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
        [ -z "$made_policy" ] || rm -f "$policy"
        return "$rc"
}

engines_installed() {
        local p
        for p in "${_engines_packages[@]}"; do
                [ -z "${p#*:}" ] || command -v "${p#*:}" >/dev/null || return 1
        done
        [ -x "$NCTK_DOCKER_BIN" ] && command -v ctr >/dev/null && command -v runc >/dev/null
}

engines_env() {
        cat <<EOF
NCTK_ENGINES_DIR=$NCTK_ENGINES_DIR
NCTK_ENGINES_RUN=$NCTK_ENGINES_RUN
NCTK_ENGINES_BIN=$NCTK_ENGINES_DIR/bin
NCTK_DOCKER_SOCK=$NCTK_DOCKER_SOCK
NCTK_CONTAINERD_SOCK=$NCTK_CONTAINERD_SOCK
NCTK_CTR_NAMESPACE=$NCTK_CTR_NAMESPACE
DOCKER_HOST=unix://$NCTK_DOCKER_SOCK
DOCKER_CONFIG=$NCTK_ENGINES_DIR/docker-cli
CONTAINERS_CONF=$NCTK_ENGINES_DIR/podman/containers.conf
CONTAINERS_STORAGE_CONF=$NCTK_ENGINES_DIR/podman/storage.conf
NCTK_DOCKERD_LOG=$NCTK_ENGINES_DIR/log/dockerd.log
NCTK_CONTAINERD_LOG=$NCTK_ENGINES_DIR/log/containerd.log
EOF
}

# The directories, configuration files and client wrappers; once per start.
_engines_prepare() {
        local d=$NCTK_ENGINES_DIR
        _engines_sane || return 1
        mkdir -p "$d"/{bin,log,docker-cli,containerd,podman/{tmp,cni,hooks.d}} "$NCTK_ENGINES_RUN/podman" || return 1
        chmod 711 "$d"
        if [ ! -e "$d/system-paths" ]; then
                local p
                for p in "${_engines_system_paths[@]}"; do
                        [ -e "$p" ] || echo "$p"
                done >"$d/system-paths"
                for p in "${_engines_cgroups[@]}"; do
                        [ -e "/sys/fs/cgroup/devices/$p" ] || echo "$p"
                done >"$d/cgroups"
        fi
        cat >"$d/containerd/config.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$NCTK_ENGINES_RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$NCTK_CONTAINERD_SOCK"
[ttrpc]
  address = "$NCTK_CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
EOF
        # podman: no systemd, no journald, cgroup v1 here; its own storage, locks, temporary
        # files, network config and (empty unless a test passes --hooks-dir) hooks directory.
        cat >"$d/podman/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/podman/events.log"
runtime = "runc"
lock_type = "file"
tmp_dir = "$NCTK_ENGINES_RUN/podman"
image_copy_tmp_dir = "$d/podman/tmp"
hooks_dir = ["$d/podman/hooks.d"]
[network]
network_backend = "cni"
network_config_dir = "$d/podman/cni"
EOF
        cat >"$d/podman/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$d/podman/root"
runroot = "$NCTK_ENGINES_RUN/podman-storage"
EOF
        _engines_wrapper docker "DOCKER_HOST=unix://$NCTK_DOCKER_SOCK" "DOCKER_CONFIG=$d/docker-cli" \
                -- "$NCTK_DOCKER_BIN"
        # compose runs one-off containers with `docker start --attach`, the docker found on its
        # PATH: ours. (Its other way, COMPOSE_INTERACTIVE_NO_CLI=1, starts a container that
        # exits quickly a second time and loses its output.)
        _engines_wrapper docker-compose "DOCKER_HOST=unix://$NCTK_DOCKER_SOCK" "DOCKER_CONFIG=$d/docker-cli" \
                +PATH="$d/bin" -- "$(command -v docker-compose)"
        _engines_wrapper ctr "CONTAINERD_ADDRESS=$NCTK_CONTAINERD_SOCK" \
                "CONTAINERD_NAMESPACE=$NCTK_CTR_NAMESPACE" -- "$(command -v ctr)"
        _engines_wrapper podman "CONTAINERS_CONF=$d/podman/containers.conf" \
                "CONTAINERS_STORAGE_CONF=$d/podman/storage.conf" "TMPDIR=$d/podman/tmp" \
                -- "$(command -v podman)"
}

# _engines_wrapper NAME VAR=VALUE... [+PATH=DIR] -- PROGRAM: $NCTK_ENGINES_DIR/bin/NAME
_engines_wrapper() {
        local f=$NCTK_ENGINES_DIR/bin/$1
        shift
        {
                echo '#!/bin/sh'
                while [ "$1" != -- ]; do
                        # shellcheck disable=SC2016
                        case $1 in
                        +PATH=*) printf 'export PATH=%q:"$PATH"\n' "${1#+PATH=}" ;; # the wrapper's $PATH
                        *) printf 'export %q\n' "$1" ;;
                        esac
                        shift
                done
                printf 'exec %q "$@"\n' "$2"
        } >"$f"
        chmod 755 "$f"
}

_engines_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
_engines_pid() { cat "$NCTK_ENGINES_DIR/$1.pid" 2>/dev/null; }

# _engines_wait WHAT PID SECONDS CMD...: until CMD succeeds, PID dies, or the time is up.
_engines_wait() {
        local what=$1 pid=$2 limit=$3 i
        shift 3
        for ((i = 0; i < limit * 10; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                if ! _engines_alive "$pid"; then
                        _engines_log "$what exited while starting; its log ends:"
                        tail -n 20 "$NCTK_ENGINES_DIR/log/$what.log" >&2
                        return 1
                fi
                sleep 0.1
        done
        _engines_log "$what did not answer within $limit s; its log ends:"
        tail -n 20 "$NCTK_ENGINES_DIR/log/$what.log" >&2
        return 1
}

engines_start_containerd() {
        _engines_prepare || return 1
        _engines_alive "$(_engines_pid containerd)" && return 0
        # setsid: a daemon of its own session, untouched by signals meant for the test's group.
        setsid containerd --config "$NCTK_ENGINES_DIR/containerd/config.toml" \
                --address "$NCTK_CONTAINERD_SOCK" --root "$NCTK_ENGINES_DIR/containerd/root" \
                --state "$NCTK_ENGINES_RUN/containerd" \
                >>"$NCTK_ENGINES_DIR/log/containerd.log" 2>&1 </dev/null &
        echo $! >"$NCTK_ENGINES_DIR/containerd.pid"
        _engines_wait containerd $! 30 ctr -a "$NCTK_CONTAINERD_SOCK" version
}

engines_start_docker() {
        local json=${1:-} pathdir=${2:-}
        engines_start_containerd || return 1
        _engines_stop_docker
        if [ -z "$json" ]; then
                json=$NCTK_ENGINES_DIR/daemon.json
                echo '{}' >"$json"
        fi
        local path=$PATH
        [ -z "$pathdir" ] || path=$pathdir:$PATH
        # No network setup at all: no iptables rules, no docker0 bridge, hence no veth pairs.
        PATH=$path setsid dockerd --data-root "$NCTK_ENGINES_DIR/docker" \
                --exec-root "$NCTK_ENGINES_RUN/docker" --pidfile "$NCTK_ENGINES_RUN/dockerd.pid" \
                -H "unix://$NCTK_DOCKER_SOCK" --containerd "$NCTK_CONTAINERD_SOCK" \
                --iptables=false --ip-masq=false --bridge=none --config-file "$json" \
                >>"$NCTK_ENGINES_DIR/log/dockerd.log" 2>&1 </dev/null &
        echo $! >"$NCTK_ENGINES_DIR/dockerd.pid"
        _engines_wait dockerd $! 60 "$NCTK_ENGINES_DIR/bin/docker" info
}

engines_start() {
        engines_stop
        engines_start_containerd && engines_start_docker "$@"
}

engines_import() {
        local tar=$1 name=$2 b=$NCTK_ENGINES_DIR/bin
        "$b/docker" import "$tar" "$name" >/dev/null || return 1
        "$b/docker" save -o "$NCTK_ENGINES_DIR/$name.docker.tar" "$name" || return 1
        "$b/ctr" images import "$NCTK_ENGINES_DIR/$name.docker.tar" >/dev/null || return 1
        rm -f "$NCTK_ENGINES_DIR/$name.docker.tar"
        "$b/podman" import "$tar" "localhost/$name" >/dev/null 2>&1 ||
                "$b/podman" import "$tar" "localhost/$name" >/dev/null
}

# _engines_kill PID SECONDS: SIGTERM, then SIGKILL when it is still there after SECONDS.
_engines_kill() {
        local pid=$1 limit=$2 i
        _engines_alive "$pid" || return 0
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < limit * 10; i++)); do
                _engines_alive "$pid" || return 0
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        sleep 0.1
}

_engines_stop_docker() {
        local b=$NCTK_ENGINES_DIR/bin pid
        pid=$(_engines_pid dockerd)
        if _engines_alive "$pid"; then
                local ids
                ids=$(timeout 30 "$b/docker" ps -aq 2>/dev/null)
                # shellcheck disable=SC2086
                [ -z "$ids" ] || timeout 60 "$b/docker" rm -f $ids >/dev/null 2>&1
                _engines_kill "$pid" 20
        fi
        rm -f "$NCTK_ENGINES_DIR/dockerd.pid"
}

# Processes whose command line names our directories (dockerd, containerd, their shims,
# conmon), then their descendants; never this shell or its ancestors.
_engines_strays() {
        local self=" $$ ${BASHPID:-} " p a
        a=$$
        while [ "$a" -gt 1 ] 2>/dev/null; do
                self+="$a "
                a=$(awk '{print $4}' "/proc/$a/stat" 2>/dev/null) || break
        done
        local found=()
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [[ $self == *" $p "* ]] && continue
                tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" |
                        grep -qF -e "$NCTK_ENGINES_DIR/" -e "$NCTK_ENGINES_RUN/" && found+=("$p")
        done
        [ "${#found[@]}" -gt 0 ] || return 0
        # Their descendants: what a killed shim or conmon would leave running.
        local all=" ${found[*]} " changed=1 pp
        while [ "$changed" ]; do
                changed=
                for p in /proc/[0-9]*; do
                        p=${p#/proc/}
                        [[ $all == *" $p "* ]] && continue
                        pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || continue
                        if [[ $all == *" $pp "* ]]; then
                                all+="$p "
                                changed=1
                        fi
                done
        done
        echo "$all"
}

engines_stop() {
        local d=$NCTK_ENGINES_DIR b=$NCTK_ENGINES_DIR/bin pid
        _engines_sane || return 1
        [ -d "$d" ] || [ -d "$NCTK_ENGINES_RUN" ] || return 0
        _engines_stop_docker
        if [ -x "$b/podman" ]; then
                timeout 60 "$b/podman" rm -a -f -t 0 >/dev/null 2>&1
        fi
        pid=$(_engines_pid containerd)
        if _engines_alive "$pid"; then
                local ns id
                for ns in $(timeout 10 ctr -a "$NCTK_CONTAINERD_SOCK" namespaces ls -q 2>/dev/null); do
                        for id in $(timeout 10 ctr -a "$NCTK_CONTAINERD_SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
                                timeout 10 ctr -a "$NCTK_CONTAINERD_SOCK" -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1
                                timeout 10 ctr -a "$NCTK_CONTAINERD_SOCK" -n "$ns" tasks rm -f "$id" >/dev/null 2>&1
                        done
                        for id in $(timeout 10 ctr -a "$NCTK_CONTAINERD_SOCK" -n "$ns" containers ls -q 2>/dev/null); do
                                timeout 10 ctr -a "$NCTK_CONTAINERD_SOCK" -n "$ns" containers rm "$id" >/dev/null 2>&1
                        done
                done
                _engines_kill "$pid" 20
        fi
        rm -f "$d/containerd.pid"
        # Whatever survived: shims and conmon outlive their daemons by design.
        local strays
        strays=$(_engines_strays)
        if [ -n "${strays// /}" ]; then
                _engines_log "killing leftover processes:$strays"
                # shellcheck disable=SC2086
                kill -KILL $strays 2>/dev/null
                sleep 0.2
        fi
        # Mounts below our directories, deepest first (overlays, shm, netns, the data roots).
        local m
        awk -v a="$d" -v b="$NCTK_ENGINES_RUN" '
                { p = $5; gsub(/\\040/, " ", p) }
                p == a || index(p, a "/") == 1 || p == b || index(p, b "/") == 1 { print length(p), p }' \
                /proc/self/mountinfo | sort -rn | cut -d' ' -f2- | while IFS= read -r m; do
                umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
                        _engines_log "cannot unmount $m"
        done
        # Traces outside our directories: what did not exist at start is all ours; of what did,
        # only our namespace's runc state.
        local p c
        rm -rf "/run/containerd/runc/$NCTK_CTR_NAMESPACE"
        if [ -f "$d/system-paths" ]; then
                while IFS= read -r p; do
                        case $p in /?*/?*) rm -rf "$p" ;; esac
                done <"$d/system-paths"
        fi
        # Empty cgroups the engines made (cgroupfs driver, containerd's namespace, podman).
        if [ -f "$d/cgroups" ]; then
                while IFS= read -r c; do
                        for p in /sys/fs/cgroup/*/"$c" /sys/fs/cgroup/unified/"$c"; do
                                [ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null
                        done
                done <"$d/cgroups"
        fi
        rm -rf "$d" "$NCTK_ENGINES_RUN"
        return 0
}

engines_trap() { trap engines_stop EXIT INT TERM; }

# Run, not sourced (`return` works only in a function or a sourced file).
if ! (return 0 2>/dev/null); then
        case ${1:-} in
        install) engines_install ;;
        start) shift; engines_start "$@" ;;
        stop) engines_stop ;;
        env) engines_env ;;
        *) echo "usage: $0 install|start [DAEMON_JSON [PATH_DIR]]|stop|env" >&2; exit 2 ;;
        esac
fi
