#!/usr/bin/env bash
# The system programs the tests start as throwaway servers on 127.0.0.1, checked before every `npm test` (the
# `pretest` script) and by .ci/run: this file is the one list. Missing Debian packages are installed when this
# process may (root, or `sudo -n` without a password): `apt-get update` once, then `apt-get install -y`. Otherwise it
# stops with one line giving the exact command to run, so no test starts without its server (none skips).
#
#   program                         why                                          Debian package
#   moto_server                     AWS APIs (test/support/moto.ts)              none: Python `moto[server]`
#   initdb, pg_ctl                  PostgreSQL (test/support/postgres.ts)        postgresql (bookworm: 15)
#   redis-server >= 6               Redis ACL users (test/support/redis.ts)      redis-server
#   pgbouncer                       PgBouncer (the PgBouncer tests)              pgbouncer
#
# Every one is needed even where external servers stand in (MOTO_ENDPOINT, PG_TEST_ADMIN_URL, REDIS_TEST_URL): the
# local stack's sandbox, the TLS servers and the renamed-ACL Redis are always started here.
# Redis 6 is the first with ACL users (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/).
set -euo pipefail

packages=()   # Debian packages to install
others=()     # what no Debian package provides, as the command that installs it

if ! command -v moto_server >/dev/null 2>&1; then
    # Debian ships no moto (there is no python3-moto in bookworm); it comes from PyPI.
    others+=("python3 -m pip install 'moto[server]'")
fi

pg_bin=""
for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pg_bin="$dir"; fi
done
if [ -z "$pg_bin" ]; then packages+=(postgresql); fi

redis_ok() {
    command -v redis-server >/dev/null 2>&1 || return 1
    local v
    v="$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')"
    [ -n "$v" ] && [ "$v" -ge 6 ]
}
redis_ok || packages+=(redis-server)

# Debian installs pgbouncer in /usr/sbin, which is not on a non-root user's PATH.
pgbouncer_ok() { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }
pgbouncer_ok || packages+=(pgbouncer)

if [ ${#packages[@]} -gt 0 ]; then
    runner=""
    if [ "$(id -u)" = 0 ]; then
        runner="as-root"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        runner="sudo"
    fi
    if [ -z "$runner" ]; then
        cmd="sudo apt-get update && sudo apt-get install -y ${packages[*]}"
        for o in "${others[@]}"; do cmd="$cmd && $o"; done
        echo "system dependencies missing (${packages[*]}${others:+, moto_server}); run: $cmd" >&2
        exit 1
    fi
    prefix=()
    [ "$runner" = sudo ] && prefix=(sudo -n)
    echo "== installing Debian packages the tests need: ${packages[*]}" >&2
    "${prefix[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${prefix[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    # The packages may start system servers (redis on 6379, PostgreSQL on 5432); the tests use their own on free ports.
    redis_ok || { echo "redis-server >= 6 is required; the installed one is $(redis-server --version 2>/dev/null || echo missing)" >&2; exit 1; }
    pgbouncer_ok || { echo "pgbouncer is still missing after apt-get install -y pgbouncer" >&2; exit 1; }
fi

if [ ${#others[@]} -gt 0 ]; then
    cmd="${others[0]}"
    echo "system dependency missing (moto_server); run: $cmd" >&2
    exit 1
fi
