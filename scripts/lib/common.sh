# Shared helpers for scripts/test and scripts/dev-up (sourced, not run).

# ensure_packages PKG...: installs the given Debian packages with apt-get (update once first),
# keeping their services from starting on this machine (policy-rc.d exit 101 during the
# install), waiting for another apt/dpkg to release its lock. Needs root.
ensure_packages() {
    (( $# > 0 )) || return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing packages ($*) and not root: install them with apt-get" >&2
        return 1
    fi
    echo "installing with apt-get: $*"
    local policy=/usr/sbin/policy-rc.d made_policy=0 ok=1
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q || ok=0
    if (( ok )); then
        DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get -o DPkg::Lock::Timeout=600 \
            install -y -q --no-install-recommends "$@" || ok=0
    fi
    (( made_policy )) && rm -f "$policy"
    (( ok )) || { echo "apt-get failed to install: $*" >&2; return 1; }
}

# free_port: a TCP port on 127.0.0.1 that the kernel just reported free.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT TIMEOUT_S: 0 once 127.0.0.1:PORT accepts a connection, 1 after the timeout.
wait_port() {
    local port=$1 deadline=$((SECONDS + $2))
    while (( SECONDS < deadline )); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# stop_pid PID [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 5), then SIGKILL.
stop_pid() {
    local pid=$1 timeout=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "pid $pid did not exit in ${timeout} s: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}
