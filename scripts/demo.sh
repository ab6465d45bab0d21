#!/usr/bin/env bash
# scripts/demo.sh - the front door: install what is missing, build, and run
# a live demo on this machine:
#
#   sqlite3 writes rows into ./demo/app.db every second
#     -> `ltxctl replicate` turns each change into the next LTX file under
#        ./demo/bucket/app.db/ltx/0/  (a Litestream-style file replica), and
#        `ltxctl compact --ladder` compacts it into L1/L2/L3 and prunes L0
#        as Litestream does (on shorter windows)
#     -> `ltxpaged --replica file://$PWD/demo/bucket` serves its pages over HTTP
#     -> a client reads them live through `vfs=ltxhttp` (sqlite3 CLI) and curl.
#
# Ctrl-C stops everything the script started.
#
# usage: scripts/demo.sh [--no-install] [--no-build] [--seconds N] [--port P]
#                        [--build-dir DIR] [--dir DIR] [--interval S] [--no-vfs]
#   --no-install   do not call scripts/install-deps.sh
#   --no-build     use an existing build (DIR, default ./build)
#   --seconds N    stop after N seconds and check that the client caught up
#                  (exit 1 if not); default: run until Ctrl-C
#   --port P       HTTP port (default 7070, or a free one if 7070 is taken)
#   --interval S   seconds between client reads (default 3)
#   --dir DIR      where the database, bucket and logs go (default ./demo)
#   --no-vfs       show the server with curl only (no sqlite3 + libltxhttp client)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
install=1 build=1 seconds=0 port="" build_dir="$ROOT/build" every=3 DEMO="$ROOT/demo" use_vfs=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) install=0 ;;
        --no-build) build=0 ;;
        --seconds) seconds=${2:?--seconds needs a number}; shift ;;
        --seconds=*) seconds=${1#*=} ;;
        --port) port=${2:?--port needs a number}; shift ;;
        --port=*) port=${1#*=} ;;
        --build-dir) build_dir=${2:?--build-dir needs a path}; shift ;;
        --build-dir=*) build_dir=${1#*=} ;;
        --dir) DEMO=${2:?--dir needs a path}; shift ;;
        --dir=*) DEMO=${1#*=} ;;
        --no-vfs) use_vfs=0 ;;
        --interval) every=${2:?--interval needs a number}; shift ;;
        --interval=*) every=${1#*=} ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$seconds$every" in *[!0-9]*) echo "demo.sh: --seconds and --interval take whole numbers" >&2; exit 2 ;; esac
[ "$every" -ge 1 ] || every=1
case "$build_dir" in /*) ;; *) build_dir="$ROOT/$build_dir" ;; esac
case "$DEMO" in /*) ;; *) DEMO="$ROOT/$DEMO" ;; esac

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

# ---- 1. dependencies and build -------------------------------------------------
if [ $install = 1 ]; then
    say "checking Debian packages (scripts/install-deps.sh)"
    scripts/install-deps.sh
fi
for tool in sqlite3 curl cmake; do
    command -v "$tool" >/dev/null || { echo "demo.sh: $tool is missing (run without --no-install)" >&2; exit 1; }
done
if [ $build = 1 ]; then
    say "building (cmake -S . -B ${build_dir#$ROOT/} && cmake --build ${build_dir#$ROOT/} -j)"
    cmake -S . -B "$build_dir" >/dev/null
    cmake --build "$build_dir" -j"$(nproc 2>/dev/null || echo 2)"
fi
LTXCTL=$build_dir/tools/ltxctl
LTXPAGED=$build_dir/server/ltxpaged
VFS=$build_dir/client-vfs/libltxhttp
[ -x "$LTXCTL" ] || { echo "demo.sh: $LTXCTL was not built" >&2; exit 1; }
have_server=0; [ -x "$LTXPAGED" ] && have_server=1
have_vfs=0; [ -f "$VFS.so" ] && [ $use_vfs = 1 ] && have_vfs=1

# ---- 2. processes we start, and how they stop -----------------------------------
pids=()
next_steps() {
    [ -n "${REPLICA:-}" ] || return 0
    local ctl=${LTXCTL#$ROOT/} srv=${LTXPAGED#$ROOT/}
    cat <<EOF

== where next
   logs:            $DEMO/replicate.log $DEMO/compact.log $DEMO/ltxpaged.log
   the replica stays in $DEMO/bucket:
   restore a copy:  $ctl restore $REPLICA /tmp/app-copy.db
   inspect a file:  $ctl inspect $REPLICA/ltx/0/0000000000000001-0000000000000001.ltx
   serve it again:  $srv --replica file://$DEMO/bucket --listen 127.0.0.1:$port
                    curl -o /tmp/app-http.db http://127.0.0.1:$port/app.db/file
   docs:            README.md, docs/server.md, docs/vfs.md, docs/ltxctl.md, deploy/README.md
   with Litestream: point ltxpaged --replica at the bucket Litestream writes (file:// or s3://)
EOF
}
cleanup() {
    # Runs once, on every exit (normal end, error, Ctrl-C, SIGTERM). A second
    # Ctrl-C while it runs must not abort it half-way (that left processes
    # and the port behind): INT/TERM are ignored until it is done, which
    # takes at most ~5 s (then stragglers get SIGKILL).
    # A subshell (a pipeline's part, a $(...)) that a Ctrl-C ends runs its
    # inherited traps too: only the script itself stops what it started
    # (a subshell's "stopping:" went into its pipe, and the script's own
    # cleanup never ran)
    [ "${BASHPID:-$$}" = "$$" ] || return 0
    trap '' INT TERM
    trap - EXIT
    # Every background child, also one started just before the signal whose
    # pid did not reach $pids yet (the trap runs right after the fork).
    local p all=() seen=" "
    for p in "${pids[@]}" $(jobs -p); do
        case "$seen" in *" $p "*) continue ;; esac
        seen="$seen$p "; all+=("$p")
    done
    if [ ${#all[@]} -gt 0 ]; then
        echo
        echo "stopping: ${all[*]}"
        # each was started with setsid, so its PID is also its process group:
        # kill the group (the writer loop's sleep/sqlite3 children too)
        for p in "${all[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
        # give them 5 s to finish cleanly, then force the stragglers
        local left tries=0
        while :; do
            left=()
            for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
            [ ${#left[@]} = 0 ] && break
            tries=$((tries + 1))
            if [ $tries -gt 50 ]; then
                echo "still running after 5 s, killing: ${left[*]}"
                for p in "${left[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
                break
            fi
            sleep 0.1
        done
        for p in "${all[@]}"; do wait "$p" 2>/dev/null || true; done
    fi
    next_steps
}
# set before any child starts: a Ctrl-C at any moment runs cleanup
trap cleanup EXIT
# a signal runs cleanup itself (bash 5.2 did not always run the EXIT trap
# after `exit` in an INT trap taken while a pipeline ran)
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "$port" ]; then
    port=7070
    while port_busy "$port"; do port=$((port + 1)); done
elif port_busy "$port"; then
    echo "demo.sh: port $port is in use" >&2; exit 1
fi
URL="http://127.0.0.1:$port"

# ---- 3. a sample database and the live writer -----------------------------------
DB=$DEMO/app.db
REPLICA=$DEMO/bucket/app.db
say "creating $DB (WAL mode) and a replica at $REPLICA"
if [ -e "$DEMO" ] && [ ! -f "$DEMO/.ltxhttp-demo" ]; then
    echo "demo.sh: $DEMO exists and was not made by this script; choose another --dir" >&2; exit 1
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/bucket"
touch "$DEMO/.ltxhttp-demo"
sqlite3 "$DB" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE events(id INTEGER PRIMARY KEY, at TEXT NOT NULL, msg TEXT NOT NULL);
INSERT INTO events(at, msg)
  SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'seed row ' || value FROM generate_series(1, 100);
SQL

# Background processes run in their own sessions (setsid), so a Ctrl-C reaches
# only this script, which then stops them in order (see cleanup).
setsid "$LTXCTL" replicate "$DB" "$REPLICA" --interval 500ms >"$DEMO/replicate.log" 2>&1 &
pids+=($!)
note "ltxctl replicate (pid $!) -> log $DEMO/replicate.log"
for _ in $(seq 1 50); do
    ls "$REPLICA/ltx/0/"*.ltx >/dev/null 2>&1 && break
    sleep 0.1
done
ls "$REPLICA/ltx/0/"*.ltx >/dev/null 2>&1 || { echo "demo.sh: replicate wrote nothing:"; cat "$DEMO/replicate.log"; exit 1; }
note "first LTX file: $(ls "$REPLICA/ltx/0/" | head -1)"

# Compaction as Litestream runs it, on short windows so the demo shows it:
# L1 every 10 s, L2 every 1 min, L3 every 10 min, L0 files removed 30 s after
# L1 covers them (Litestream: 30 s / 5 min / 1 h, 5 min).
setsid "$LTXCTL" compact "$REPLICA" --ladder --intervals 10s,1m,10m --l0-retention 30s \
    >"$DEMO/compact.log" 2>&1 &
pids+=($!)
note "ltxctl compact --ladder (pid $!) -> log $DEMO/compact.log"

writer_loop() {
    local n=0
    while :; do
        n=$((n + 1))
        sqlite3 "$1" "PRAGMA busy_timeout=5000; INSERT INTO events(at, msg) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'live row $n');" >/dev/null
        sleep 1
    done
}
setsid bash -c "$(declare -f writer_loop); writer_loop \"\$1\"" writer "$DB" &
writer_pid=$!
pids+=($!)
note "writer loop (pid $!): one INSERT per second into $DB"

# ---- 4. the page server -----------------------------------------------------------
if [ $have_server = 1 ]; then
    say "starting ltxpaged on $URL"
    setsid "$LTXPAGED" --replica "file://$DEMO/bucket" --listen "127.0.0.1:$port" --poll-interval 250ms \
        >"$DEMO/ltxpaged.log" 2>&1 &
    pids+=($!)
    note "ltxpaged (pid $!) -> log $DEMO/ltxpaged.log"
    ready=0
    for _ in $(seq 1 100); do
        if curl -fs "$URL/app.db" 2>/dev/null | grep -q '"txid"'; then ready=1; break; fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    if [ $ready = 0 ]; then
        echo "demo.sh: ltxpaged did not come up:"; tail -20 "$DEMO/ltxpaged.log"; exit 1
    fi
else
    say "ltxpaged is not built yet: showing the replica with ltxctl instead"
fi

# ---- 5. the client, live ------------------------------------------------------------
# A past TXID that stays restorable while retention removes old L0 files:
# the end of the first L1 compaction, or TXID 1 before there is one.
tt_txid() {
    local f
    f=$(ls "$REPLICA/ltx/1" 2>/dev/null | grep -m1 '\.ltx$' || true)
    if [ -n "$f" ]; then echo "${f:17:16}"; else echo 0000000000000001; fi
}
tt_count() {
    vfs_query ".output /dev/null
PRAGMA ltxhttp_txid='$1';
.output stdout
SELECT count(*) FROM events;"
}
levels() {
    local l out=""
    for l in 0 1 2 3 9; do
        [ -d "$REPLICA/ltx/$l" ] || continue
        out="$out L$l:$(ls "$REPLICA/ltx/$l" | grep -c '\.ltx$')"
    done
    echo "${out# } files"
}
local_count() { sqlite3 "$DB" "PRAGMA busy_timeout=5000; SELECT count(*) FROM events;" 2>/dev/null | tail -1; }
vfs_query() {
    # .load first, then .open the URI (the CLI opens its database before .load runs)
    sqlite3 2>&1 <<SQL
.load $VFS
.open 'file:app.db?vfs=ltxhttp&server=$URL'
$1
SQL
}
show() {
    echo
    echo "-- $(date -u +%H:%M:%S)  local app.db: $(local_count) rows; replica: $(levels)"
    if [ $have_server = 1 ]; then
        if [ $have_vfs = 1 ]; then
            echo "   sqlite3 vfs=ltxhttp -> SELECT count(*), max(id), (SELECT msg FROM events ORDER BY id DESC LIMIT 1) FROM events; PRAGMA ltxhttp_txid;"
            vfs_query "SELECT count(*), max(id), (SELECT msg FROM events ORDER BY id DESC LIMIT 1) FROM events; PRAGMA ltxhttp_txid;" | sed 's/^/     /'
            local t; t=$(tt_txid)
            echo "   time travel: PRAGMA ltxhttp_txid='$t'; SELECT count(*) FROM events;   (an older state)"
            tt_count "$t" | sed 's/^/     /'
        fi
        echo "   curl -s $URL/app.db    (status JSON; selected fields)"
        curl -s "$URL/app.db" | grep -o '"\(state\|txid\|commit\|page_size\|timestamp\|lag_seconds\)":[^,]*' |
            tr '\n' ' ' | sed 's/^/     /'
        echo
        echo "   curl -s $URL/app.db/pages/1 | head -c 16 | od -c   (page 1 = the SQLite header)"
        curl -s "$URL/app.db/pages/1" | head -c 16 | od -c | head -1 | sed 's/^/     /'
    else
        echo "   ltxctl restore -> $(
            rm -f "$DEMO/peek.db"
            "$LTXCTL" restore "$REPLICA" "$DEMO/peek.db" >/dev/null 2>&1 &&
                sqlite3 "$DEMO/peek.db" 'SELECT count(*) FROM events;' || echo '(restore failed)')" rows
        :
    fi
}

say "reading live (every ${every}s). Ctrl-C stops everything this script started."
if [ $have_vfs = 1 ] && [ $have_server = 1 ]; then
    note "client: sqlite3 -cmd '.load ${VFS#$ROOT/}' then .open 'file:app.db?vfs=ltxhttp&server=$URL'"
fi
start=$(date +%s)
while :; do
    show
    if [ "$seconds" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$seconds" ]; then break; fi
    sleep "$every"
done

# ---- 6. (timed runs) check that the client caught up ----------------------------------
status=0
if [ "$seconds" -gt 0 ]; then
    say "check: stop the writer, wait for the replica and the server to catch up"
    kill -- "-$writer_pid" 2>/dev/null || true; wait "$writer_pid" 2>/dev/null || true
    want=$(local_count)
    got="" ok=0
    for _ in $(seq 1 60); do
        if [ $have_server = 1 ] && [ $have_vfs = 1 ]; then
            got=$(vfs_query "SELECT count(*) FROM events;" | tail -1)
        elif [ $have_server = 1 ]; then
            got=$(rm -f "$DEMO/check.db"; curl -fs -o "$DEMO/check.db" "$URL/app.db/file" && sqlite3 "$DEMO/check.db" 'SELECT count(*) FROM events;' 2>/dev/null || true)
        else
            got=$(rm -f "$DEMO/check.db"; "$LTXCTL" restore "$REPLICA" "$DEMO/check.db" >/dev/null 2>&1 && sqlite3 "$DEMO/check.db" 'SELECT count(*) FROM events;' || true)
        fi
        [ "$got" = "$want" ] && { ok=1; break; }
        sleep 0.25
    done
    if [ $ok = 1 ]; then
        echo "demo check: OK - the client sees all $want rows written locally"
        if [ $have_server = 1 ] && [ $have_vfs = 1 ]; then
            t=$(tt_txid)
            old=$(tt_count "$t" | tail -1)
            rm -f "$DEMO/at-txid.db"
            "$LTXCTL" restore "$REPLICA" "$DEMO/at-txid.db" --txid "$t" >/dev/null 2>&1 || true
            want_old=$(sqlite3 "$DEMO/at-txid.db" 'SELECT count(*) FROM events;' 2>/dev/null || echo '?')
            if [ -n "$old" ] && [ "$old" = "$want_old" ]; then
                echo "demo check: OK - time travel to TXID $t shows $old rows, as ltxctl restore --txid $t"
            else
                echo "demo check: FAILED - time travel to TXID $t shows '$old', ltxctl restore --txid gives '$want_old'"; status=1
            fi
        fi
        if [ $have_server = 1 ]; then
            rm -f "$DEMO/over-http.db" "$DEMO/restored.db"
            curl -fs -o "$DEMO/over-http.db" "$URL/app.db/file" || true
            "$LTXCTL" restore "$REPLICA" "$DEMO/restored.db" >/dev/null 2>&1 || true
            if [ -s "$DEMO/over-http.db" ] && cmp -s "$DEMO/over-http.db" "$DEMO/restored.db"; then
                echo "demo check: OK - GET /app.db/file is byte-identical to ltxctl restore"
            else
                echo "demo check: FAILED - GET /app.db/file differs from ltxctl restore"; status=1
            fi
        fi
    else
        echo "demo check: FAILED - local has $want rows, the client sees '${got}'"
        status=1
    fi
fi

exit $status
