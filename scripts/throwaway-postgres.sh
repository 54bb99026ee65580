# A throwaway PostgreSQL cluster for the official-client suites that run
# against a PostgreSQL-backed `eventfold serve` (scripts/test-python,
# scripts/test-node, scripts/test-rust-client). Sourced, not run:
#
#   source scripts/throwaway-postgres.sh
#   throwaway_pg_start py || { echo "skipped: $THROWAWAY_PG_MISSING"; exit 0; }
#   trap throwaway_pg_stop EXIT
#
# throwaway_pg_start NAME initialises a cluster in a fresh /tmp directory on
# a free loopback port (trust authentication; no flush to disk at initdb nor
# at commit: the cluster is deleted at the end, its durability is not under
# test, and a commit's flush would otherwise dominate every timing bound of
# the suites) and exports, for the tests' harnesses:
#   EVENTFOLD_TEST_PG_BASE      postgres://postgres@127.0.0.1:PORT (no database:
#                               each server gets a database of its own)
#   EVENTFOLD_TEST_PG_CREATEDB  the cluster's `createdb`
# It returns 1 with THROWAWAY_PG_MISSING set when PostgreSQL is not
# installed. throwaway_pg_stop stops the cluster and removes its directory;
# it does nothing when none was started, so it is safe in any EXIT trap.

THROWAWAY_PG_DIR=""
THROWAWAY_PG_BIN=""
THROWAWAY_PG_MISSING=""

# Runs a PostgreSQL server tool, as the postgres user when we are root
# (initdb refuses root).
throwaway_pg_run() {
    if [[ "$(id -u)" = 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

throwaway_pg_start() {
    local name="$1"
    THROWAWAY_PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [[ -z "$THROWAWAY_PG_BIN" ]]; then
        THROWAWAY_PG_MISSING="PostgreSQL is not installed (apt-get install -y postgresql)"
        return 1
    fi
    THROWAWAY_PG_DIR="$(mktemp -d "/tmp/eventfold-$name-pg.XXXXXX")"
    if [[ "$(id -u)" = 0 ]]; then chown postgres "$THROWAWAY_PG_DIR"; fi
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    throwaway_pg_run "$THROWAWAY_PG_BIN/initdb" -D "$THROWAWAY_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >/dev/null
    # Every server of a suite holds its own pool: room for a few at once.
    throwaway_pg_run "$THROWAWAY_PG_BIN/pg_ctl" -D "$THROWAWAY_PG_DIR/data" -l "$THROWAWAY_PG_DIR/server.log" \
        -o "-c listen_addresses=127.0.0.1 -k $THROWAWAY_PG_DIR -p $port -c max_connections=300 -c fsync=off \
            -c synchronous_commit=off" -w start >/dev/null
    export EVENTFOLD_TEST_PG_BASE="postgres://postgres@127.0.0.1:$port"
    export EVENTFOLD_TEST_PG_CREATEDB="$THROWAWAY_PG_BIN/createdb"
    echo "== PostgreSQL on 127.0.0.1:$port (throwaway, in $THROWAWAY_PG_DIR)"
}

throwaway_pg_stop() {
    if [[ -n "$THROWAWAY_PG_DIR" ]]; then
        throwaway_pg_run "$THROWAWAY_PG_BIN/pg_ctl" -D "$THROWAWAY_PG_DIR/data" stop -m immediate >/dev/null 2>&1 || true
        rm -rf "$THROWAWAY_PG_DIR"
        THROWAWAY_PG_DIR=""
    fi
}
