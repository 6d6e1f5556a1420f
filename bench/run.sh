#!/usr/bin/env bash
# make bench: depot against Debian's nginx (static files with sendfile; WebDAV PUT) on
# loopback in the same run, rounds alternated, medians of BENCH_ROUNDS (default 5). Prints
# one table of depot/nginx ratios and writes it to bench/results/latest.md. Then the
# scale-out mode: one node over PostgreSQL + RGW (bench/scale.py starts them after the
# rounds above), as ratios to the single-machine depot in rounds of their own
# (BENCH_SCALE=0 leaves it out). Also counted:
# instructions per 1 KiB GET under callgrind, for depot and for a bare libmicrohttpd server
# (bench/mhd_min.c), and each round the digests' speed (openssl speed), from which the
# hashing ceiling of the 1 GiB PUT is computed. BENCH_ONLY=put runs only the 1 GiB PUTs and
# the digests' speed, BENCH_ONLY=get only the 1 KiB GETs (for a machine others are using,
# or a quick look: prints, writes no latest.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${BENCH_ROUNDS:-5}
DUR=${BENCH_DURATION:-5}
ROWS_BIG=${BENCH_ROWS:-1000000}
DEPOT=$root/build/depot
ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

need=""
for p in nginx wrk curl python3 valgrind openssl libmicrohttpd-dev; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
  # keep the package from starting its own nginx on port 80
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need
fi
make -C "$root" -s all
# shellcheck disable=SC2046 # one word per include folder and object file
cc -O2 -std=c17 -D_GNU_SOURCE $(printf -- '-I%s ' "$root"/src/*/) -o "$root/build/bench-seed" \
  "$root/bench/seed.c" $(find "$root/build/obj" -name '*.o' ! -name main.o) \
  ${BENCH_LDLIBS:?make bench passes the link flags}
cc -O2 -std=c17 -D_GNU_SOURCE -o "$root/build/bench-mhd-min" "$root/bench/mhd_min.c" \
  $(pkg-config --cflags --libs libmicrohttpd) -lpthread

work=$(mktemp -d /var/tmp/depot-bench.XXXXXX)
pids=()
SCALE=${BENCH_SCALE:-1}
[ -z "$ONLY" ] || SCALE=0
# the scale-out servers stop when bench/scale.py's stdin closes
stop_scale() {
  [ -n "${SCALE_SRV_PID:-}" ] || return 0
  [ -z "${SCALE_SRV[1]:-}" ] || eval "exec ${SCALE_SRV[1]}>&-"
  wait "$SCALE_SRV_PID" 2>/dev/null || true; SCALE_SRV_PID=
}
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; stop_scale; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
results=$work/results.txt
: > "$results"
load_now() { cut -d' ' -f1 /proc/loadavg; }
rec() { echo "$1 $2 $3" >> "$results"; echo "   $1 $2 $3"; }
echo "load_start host $(load_now)" >> "$results"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== preparing data in $work"
head -c 1024 /dev/urandom > "$work/1K.bin"
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$work/1G.bin"
# The 1 GiB PUTs send other bytes than the 1 GiB GETs fetch: an upload of stored content
# replaces the stored copy, and depot writes uploads past the page cache (O_DIRECT), so the
# same bytes would leave the GETs a file just written to disk, where nginx's is cached.
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$work/1G-put.bin"

# depot: one project, a token, the two files
DPORT=$(free_port)
D=$work/depot
$DEPOT user create bench --data "$D" 2>/dev/null
$DEPOT group create bench --data "$D" 2>/dev/null || true # the user's namespace may be it
PID=$($DEPOT project create bench/p --data "$D" 2>/dev/null)
$DEPOT member add --project bench/p --user bench --role maintainer --data "$D"
TOK=$($DEPOT token create personal --user bench --scopes api --data "$D" 2>/dev/null)
start_depot() {
  $DEPOT serve --data "$D" --listen 127.0.0.1:$DPORT --gc-interval 0 --cleanup-interval 0 \
    --max-file-size 0 --max-connections-per-ip 4000 >> "$work/depot.log" 2>&1 &
  DEPOT_PID=$!; pids+=($DEPOT_PID)
  for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$DPORT/" && break; sleep 0.1; done
}
start_depot
DBASE=http://127.0.0.1:$DPORT/api/v4/projects/$PID/packages/generic
curl -sf -o /dev/null -H "PRIVATE-TOKEN: $TOK" -T "$work/1K.bin" "$DBASE/bench/1/1K.bin"
curl -sf -o /dev/null -H "PRIVATE-TOKEN: $TOK" -T "$work/1G.bin" "$DBASE/bench/1/1G.bin"
# read once, as the cp below leaves nginx's copy in the page cache
curl -sf -o /dev/null -H "PRIVATE-TOKEN: $TOK" "$DBASE/bench/1/1G.bin"

if [ -z "$ONLY" ]; then
  # callgrind counts instructions, which this shared machine does not make noisy. depot
  # on the same data directory (its lock: the server above is stopped meanwhile).
  echo "== callgrind: instructions per 1 KiB GET (2,000 keep-alive GETs after 200)"
  kill "$DEPOT_PID"; wait "$DEPOT_PID" 2>/dev/null || true
  read -r all own < <(python3 "$root/bench/callgrind.py" "$work" 2000 200 \
    "/api/v4/projects/$PID/packages/generic/bench/1/1K.bin" 1024 "$TOK" -- \
    $DEPOT serve --data "$D" --listen "127.0.0.1:{port}" --gc-interval 0 --cleanup-interval 0)
  rec cg_get_small depot "$own"; rec cg_get_small_all depot "$all"
  read -r all own < <(python3 "$root/bench/callgrind.py" "$work" 2000 200 /1K.bin 1024 - -- \
    "$root/build/bench-mhd-min" "{port}")
  rec cg_get_small mhd_min "$own"; rec cg_get_small_all mhd_min "$all"
  start_depot
fi

# nginx: the reference configuration of ../shared/bench-reference, on a free port
NPORT=$(free_port)
N=$work/nginx
mkdir -p "$N/logs" "$N/tmp" "$work/www/static" "$work/www/dav"
cp "$work/1K.bin" "$work/1G.bin" "$work/www/static/"
cat > "$N/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 4096; }
http {
    sendfile on; tcp_nopush on; tcp_nodelay on; access_log off;
    keepalive_timeout 65; keepalive_requests 100000;
    types { application/octet-stream bin; } default_type application/octet-stream;
    client_body_temp_path $N/tmp/client_body; proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi; uwsgi_temp_path $N/tmp/uwsgi; scgi_temp_path $N/tmp/scgi;
    server {
        listen 127.0.0.1:$NPORT backlog=4096;
        root $work/www;
        location /static/ { }
        location /dav/ { dav_methods PUT DELETE; create_full_put_path on;
                         dav_access user:rw group:r all:r; client_max_body_size 0;
                         client_body_buffer_size 128k; }
    }
}
CONF
nginx -c "$N/nginx.conf" -p "$N/" -g 'daemon off;' &
pids+=($!)
NBASE=http://127.0.0.1:$NPORT
for i in $(seq 50); do curl -s -o /dev/null "$NBASE/static/1K.bin" && break; sleep 0.1; done

SERVERS="depot nginx"

# "req/s p99-ms" of a wrk run
wrk_stats() {
  wrk -t2 -c64 -d${DUR}s --latency "$@" | awk '
    function ms(v) { if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
                     if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
                     if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000; return v }
    /^ +99%/ {p99 = ms($2)} /Requests\/sec/ {rps = $2} END {printf "%s %.3f\n", rps, p99}'
}
wrk_rps() { wrk_stats "$@" | cut -d' ' -f1; }
pid_of() { if [ "$1" = scale ]; then echo "$SNODE_PID"; else echo "$DEPOT_PID"; fi; }
reset_peak() { echo 5 > /proc/$(pid_of "${1:-depot}")/clear_refs; }
peak_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$(pid_of "${1:-depot}")/status; }
# base URL and token of a depot (the single-machine one, or the scale-out node)
base_of() { if [ "$1" = scale ]; then echo "$SBASE"; else echo "$DBASE"; fi; }
tok_of() { if [ "$1" = scale ]; then echo "$STOK"; else echo "$TOK"; fi; }

# Each GET phase starts once the writes of the phase before (the 1 KiB PUTs' files and WAL,
# nginx's unsynced ones) are on disk: writeback during the run lands on whichever server
# runs then, in its p99 most of all.
get_small() {
  local rps p99
  sync; sleep 1
  if [ "$1" != nginx ]; then reset_peak "$1"
    read -r rps p99 < <(wrk_stats -H "PRIVATE-TOKEN: $(tok_of "$1")" "$(base_of "$1")/bench/1/1K.bin")
    rec get_small "$1" "$rps"; rec get_small_p99 "$1" "$p99"
    rec rss_get_small "$1" "$(peak_mib "$1")"
  else
    read -r rps p99 < <(wrk_stats "$NBASE/static/1K.bin")
    rec get_small nginx "$rps"; rec get_small_p99 nginx "$p99"
  fi
}
# the digests' speed on one core, MB/s (openssl prints thousands of bytes per second)
hash_speed() {
  for a in md5 sha1 sha256; do
    rec "hash_$a" host "$(openssl speed -evp "$a" -bytes 16384 -seconds 2 2>/dev/null |
      awk -v a="$a" '$1 == a {sub(/k$/, "", $NF); printf "%.0f", $NF / 1000}')"
  done
}
get_big() {
  local url=$NBASE/static/1G.bin h=()
  [ "$1" != nginx ] && url=$(base_of "$1")/bench/1/1G.bin && h=(-H "PRIVATE-TOKEN: $(tok_of "$1")")
  rec get_big "$1" "$(curl -s -o /dev/null "${h[@]}" -w '%{speed_download}' "$url" | awk '{printf "%.0f", $1/1e6}')"
}
# (on object storage the same content every round: each PUT still sends all its bytes
# to the bucket, then removes its own object, as the content is stored already)
put_big() {
  local url=$NBASE/dav/big-$2.bin h=()
  [ "$1" != nginx ] && url=$(base_of "$1")/bench/1/put-$2.bin && h=(-H "PRIVATE-TOKEN: $(tok_of "$1")") && reset_peak "$1"
  rm -f "$work"/www/dav/big-*.bin; sync; sleep 2
  rec put_big "$1" "$(curl -s -o /dev/null "${h[@]}" -T "$work/1G-put.bin" -w '%{speed_upload}' "$url" | awk '{printf "%.0f", $1/1e6}')"
  [ "$1" != nginx ] && rec rss_put_big "$1" "$(peak_mib "$1")" || true
}
put_small() {
  if [ "$1" = depot ]; then
    rec put_small depot "$(wrk_rps -H "PRIVATE-TOKEN: $TOK" -s "$root/bench/put.lua" "http://127.0.0.1:$DPORT" -- "/api/v4/projects/$PID/packages/generic/small/$2/")"
  else
    rec put_small nginx "$(wrk_rps -s "$root/bench/put.lua" "$NBASE" -- "/dav/small-$2/")"
  fi
}

for r in $(seq "$ROUNDS"); do
  echo "== round $r of $ROUNDS"
  if [ $((r % 2)) = 1 ]; then order=$SERVERS; else order=$(echo "$SERVERS" | tr ' ' '\n' | tac | xargs); fi
  want put && hash_speed
  want get && for s in $order; do get_small "$s"; done
  [ -n "$ONLY" ] || for s in $order; do get_big "$s"; done
  want put && for s in $order; do put_big "$s" "$r"; done
  [ -n "$ONLY" ] || for s in $order; do put_small "$s" "$r"; done
done
echo "load_end host $(load_now)" >> "$results"
if [ -n "$ONLY" ]; then
  python3 "$root/bench/report.py" "$results" "$ROUNDS" "$ROWS_BIG"
  exit 0
fi
# The scale-out node in rounds of its own, against the single-machine depot measured again
# in them ("local"): PostgreSQL's and Ceph's daemons run only now, so the rounds above
# compare depot and nginx on an otherwise idle machine.
if [ "$SCALE" = 1 ]; then
  echo "== the scale-out mode: PostgreSQL and RGW (BlueStore), one depot node over them"
  coproc SCALE_SRV { python3 "$root/bench/scale.py"; }
  while read -r line <&"${SCALE_SRV[0]}"; do [ "$line" = ready ] && break; eval "$line"; done
  [ -n "${SCALE_META:-}" ] || { echo "bench/scale.py could not start the servers" >&2; exit 1; }
  S=$work/scale
  SD=(--data "$S" --meta "$SCALE_META")
  mkdir -p "$S"
  $DEPOT migrate "${SD[@]}"
  $DEPOT user create bench "${SD[@]}" 2>/dev/null
  $DEPOT group create bench "${SD[@]}" 2>/dev/null || true
  SPID=$($DEPOT project create bench/p "${SD[@]}" 2>/dev/null)
  $DEPOT member add --project bench/p --user bench --role maintainer "${SD[@]}"
  STOK=$($DEPOT token create personal --user bench --scopes api "${SD[@]}" 2>/dev/null)
  SPORT=$(free_port)
  $DEPOT serve "${SD[@]}" --blobs "$SCALE_BLOBS" --listen 127.0.0.1:$SPORT --gc-interval 0 \
    --cleanup-interval 0 --max-file-size 0 --max-connections-per-ip 4000 > "$work/scale.log" 2>&1 &
  SNODE_PID=$!; pids+=($SNODE_PID)
  SBASE=http://127.0.0.1:$SPORT/api/v4/projects/$SPID/packages/generic
  for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$SPORT/-/health" && break; sleep 0.1; done
  curl -sf -o /dev/null -H "PRIVATE-TOKEN: $STOK" -T "$work/1K.bin" "$SBASE/bench/1/1K.bin"
  curl -sf -o /dev/null -H "PRIVATE-TOKEN: $STOK" -T "$work/1G.bin" "$SBASE/bench/1/1G.bin"
  for r in $(seq "$ROUNDS"); do
    echo "== scale-out round $r of $ROUNDS"
    if [ $((r % 2)) = 1 ]; then order="local scale"; else order="scale local"; fi
    for s in $order; do get_small "$s"; done
    for s in $order; do get_big "$s"; done
    for s in $order; do put_big "$s" "s$r"; done
  done
  kill "$SNODE_PID"; wait "$SNODE_PID" 2>/dev/null || true
  stop_scale
fi

echo "== 1,000 idle keep-alive connections"
coproc IDLE { python3 "$root/bench/idle.py" 127.0.0.1 "$DPORT" 1000 "/api/v4/projects/$PID/packages/generic/bench/1/1K.bin" "$TOK"; }
read -r _ <&"${IDLE[0]}"
rec rss_idle depot "$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$DEPOT_PID/status)"
eval "exec ${IDLE[1]}>&-"
wait "$IDLE_PID" 2>/dev/null || true

echo "== cost growth: 1,000 and $ROWS_BIG package files"
SHA=$(sha256sum "$work/1K.bin" | cut -d' ' -f1)
$DEPOT project create bench/rows --data "$D" >/dev/null 2>&1
RPID=$($DEPOT project create bench/rows2 --data "$D" 2>/dev/null)
$DEPOT member add --group bench --user bench --role maintainer --data "$D"
BENCH_SHA256=$SHA "$root/build/bench-seed" "$D" bench/rows2 1000
read -r up1 down1 list1 < <(python3 "$root/bench/latency.py" 127.0.0.1 "$DPORT" "$TOK" "$RPID" 300)
BENCH_SHA256=$SHA "$root/build/bench-seed" "$D" bench/rows $((ROWS_BIG - 1000))
read -r upN downN listN < <(python3 "$root/bench/latency.py" 127.0.0.1 "$DPORT" "$TOK" "$RPID" 300)
rec lat_up_1k depot "$up1"; rec lat_down_1k depot "$down1"; rec lat_list_1k depot "$list1"
rec lat_up_big depot "$upN"; rec lat_down_big depot "$downN"; rec lat_list_big depot "$listN"

python3 "$root/bench/report.py" "$results" "$ROUNDS" "$ROWS_BIG" | tee "$root/bench/results/latest.md"
