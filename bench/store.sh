#!/usr/bin/env bash
# Store benchmark: put and get of 1 MiB and 100 MiB blobs on the local backend,
# against cp / cat of the same bytes in the same run, plus peak RSS of the
# store process (it should stay flat as the blob grows: nothing is held whole).
#
# put  = LocalStore::put_blob(File): copy into tmp/ while hashing, fsync, link.
#        Compared with `cp` and with `cp` + `sync FILE` (put fsyncs, cp does not).
# get  = LocalStore::get_blob full stream (SHA-256 verified) written to /dev/null.
#        Compared with `cat FILE > /dev/null` of the same stored file.
# Times are medians of $REPS runs (default 5). Store times are measured inside
# the process (no process start-up); cp/cat times include their start-up.
# Work files go to $BENCH_DIR (default target/bench-store, on the repo's disk).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
SIZES=${SIZES:-"1 100"}
cargo build -q --release -p store --example store-bench
BIN=target/release/examples/store-bench
W=${BENCH_DIR:-target/bench-store}
rm -rf "$W"; mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v s="$1" 'BEGIN {printf "%.2f", s*1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

echo "| op | size | store (ms) | cp (ms) | cp+sync (ms) | cat (ms) | store / baseline | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
for mib in $SIZES; do
  head -c $((mib << 20)) /dev/urandom >"$W/src"
  put_t=(); put_rss=(); cp_t=(); cps_t=(); get_t=(); get_rss=(); cat_t=()
  digest=""
  for _ in $(seq "$REPS"); do
    rm -rf "$W/store" "$W/dst"
    read -r t rss digest < <("$BIN" put "$W/store" "$W/src")
    put_t+=("$t"); put_rss+=("$rss")
    t0=$(now); cp "$W/src" "$W/dst"; t1=$(now)
    cp_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
    rm -f "$W/dst"
    t0=$(now); cp "$W/src" "$W/dst"; sync "$W/dst"; t1=$(now)
    cps_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
  done
  blob="$W/store/data/sha256/${digest:0:2}/$digest"
  for _ in $(seq "$REPS"); do
    read -r t rss n < <("$BIN" get "$W/store" "$digest")
    [ "$n" = $((mib << 20)) ] || { echo "get returned $n bytes" >&2; exit 1; }
    get_t+=("$t"); get_rss+=("$rss")
    t0=$(now); cat "$blob" >/dev/null; t1=$(now)
    cat_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
  done
  pt=$(printf '%s\n' "${put_t[@]}" | median); ct=$(printf '%s\n' "${cp_t[@]}" | median)
  cst=$(printf '%s\n' "${cps_t[@]}" | median)
  gt=$(printf '%s\n' "${get_t[@]}" | median); kt=$(printf '%s\n' "${cat_t[@]}" | median)
  prss=$(printf '%s\n' "${put_rss[@]}" | sort -g | tail -1)
  grss=$(printf '%s\n' "${get_rss[@]}" | sort -g | tail -1)
  echo "| put | $mib MiB | $(ms "$pt") | $(ms "$ct") | $(ms "$cst") | | $(ratio "$pt" "$ct")x cp, $(ratio "$pt" "$cst")x cp+sync | $(awk -v k="$prss" 'BEGIN{printf "%.1f", k/1024}') |"
  echo "| get | $mib MiB | $(ms "$gt") | | | $(ms "$kt") | $(ratio "$gt" "$kt")x cat | $(awk -v k="$grss" 'BEGIN{printf "%.1f", k/1024}') |"
done
