#!/bin/sh
# test_mkdb.sh: mkdb end to end: imgprep | mkdb, the order and its seed, every kind of bad
# stream, interruption by signals, a killed run, two runs at once, --force, --info, --help.
. "$ANET_TESTS/lib/shtest.sh"
need mdb_dump lmdb-utils
need mdb_stat lmdb-utils

# Plain-PPM images made here (deterministic), in class folders c0..c2: 4 each, 40x30.
make_images() {
	for c in 0 1 2; do
		mkdir -p "$1/c$c"
		for i in 0 1 2 3; do
			awk -v c=$c -v i=$i 'BEGIN {
				print "P3 40 30 255"
				for (y = 0; y < 30; y++)
					for (x = 0; x < 40; x++)
						print (x * 6 + c * 70) % 256, (y * 8 + i * 50) % 256, (x * y + c * i * 9) % 256
			}' > "$1/c$c/p$i.ppm"
		done
	done
}
make_images "$T/img"
imgprep -s 16 "$T/img" > "$T/all.rec" 2>"$T/imgprep.err" || { cat "$T/imgprep.err"; fail "imgprep failed"; }
[ -s "$T/all.rec" ] || fail "imgprep wrote nothing"

no_db() { # no DB and no DB.tmp left behind
	[ ! -e "$1" ] || fail "$1 exists after a failed run"
	[ ! -e "$1.tmp" ] || fail "$1.tmp left behind"
}
count_of() { mkdb --info "$1" | awk '/^records:/ { print $2 }'; }
# source names in key order, from LMDB's own dump (the names are printable in mdb_dump -p)
names_of() { mdb_dump -p "$1" | grep -ao 'c[0-9]/p[0-9]\.ppm'; }

# --- a full disk (a small tmpfs, where root may mount one): LMDB calls the short write EIO,
# mkdb says what it likely is; nothing is left, an older database is kept
mkdir "$T/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=160k tmpfs "$T/small" 2>/dev/null; then
	set +e
	mkdb -q "$T/small/db" <"$T/all.rec" 2>"$T/err"; rc1=$?
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat "$T/all.rec"; done >"$T/more.rec"
	mkdb -q --force "$T/small/db" <"$T/more.rec" 2>"$T/err"; rc2=$?
	n=$(count_of "$T/small/db")
	tmp_left=$(ls -d "$T/small/db.tmp" 2>/dev/null)
	set -e
	umount "$T/small"
	[ $rc1 = 0 ] || fail "mkdb of 12 records into 160 KiB failed"
	[ $rc2 = 1 ] || { cat "$T/err"; fail "mkdb onto a full disk: exit $rc2, expected 1"; }
	expect_err "small/db.tmp: .*: Input/output error (a short write: the disk is full? .* free)"
	[ "$n" = 12 ] || fail "the older database was not kept (count '$n')"
	[ -z "$tmp_left" ] || fail "db.tmp left on the full disk"
fi

# --- help, version, usage errors
check_help mkdb
expect_exit 2 mkdb
expect_err "missing DB"
expect_exit 2 mkdb "$T/x" "$T/y"
expect_exit 2 mkdb --seed x "$T/x"
expect_err "seed"
expect_exit 2 mkdb --map-size 12Q "$T/x"
expect_exit 2 mkdb --no-such-option "$T/x"
no_db "$T/x"

# --- a database from imgprep's stream
expect_exit 0 mkdb "$T/a.lmdb" < "$T/all.rec"
expect_err "12 records 16x16x3 jpeg, 3 classes (4..4 records each), shuffled with seed 1"
[ -f "$T/a.lmdb/data.mdb" ] || fail "no data.mdb"
[ ! -e "$T/a.lmdb.tmp" ] || fail "a.lmdb.tmp left behind"
mkdb --info "$T/a.lmdb" > "$T/info"
for want in "records: *12" "shape: *16x16x3" "encoding: *jpeg" "0..2 (3 classes), names: c0, c1, c2" \
	"shuffled, seed 1" "created: *20[0-9-]*T"; do
	grep -q "$want" "$T/info" || { cat "$T/info"; fail "--info lacks '$want'"; }
done
[ "$(mdb_stat "$T/a.lmdb" | awk '/Entries:/ { print $2 }')" = 13 ] || fail "not 12 records + metadata"
names_of "$T/a.lmdb" | sort > "$T/keys"
grep -ao 'c[0-9]/p[0-9]\.ppm' "$T/all.rec" | sort > "$T/input"
cmp -s "$T/keys" "$T/input" || fail "the database does not hold every input record exactly once"

# --- the order: the same seed gives the same database, another seed another order,
#     --no-shuffle the input order
export SOURCE_DATE_EPOCH=1700000000
mkdb -q "$T/s1.lmdb" < "$T/all.rec"
mkdb -q --seed 1 "$T/s1b.lmdb" < "$T/all.rec"
mkdb -q --seed 2 "$T/s2.lmdb" < "$T/all.rec"
mkdb -q --no-shuffle "$T/ns.lmdb" < "$T/all.rec"
mdb_dump -p "$T/s1.lmdb" > "$T/d1"
mdb_dump -p "$T/s1b.lmdb" > "$T/d1b"
cmp -s "$T/d1" "$T/d1b" || fail "the same seed gave different databases"
names_of "$T/s1.lmdb" > "$T/o1"
names_of "$T/s2.lmdb" > "$T/o2"
! cmp -s "$T/o1" "$T/o2" || fail "seeds 1 and 2 gave the same order"
names_of "$T/ns.lmdb" > "$T/ons"
grep -ao 'c[0-9]/p[0-9]\.ppm' "$T/all.rec" > "$T/oin"
cmp -s "$T/ons" "$T/oin" || fail "--no-shuffle changed the order"
mkdb --info "$T/ns.lmdb" | grep -q "input order" || fail "--info does not say 'input order'"
unset SOURCE_DATE_EPOCH

# --- a tiny map grows as needed, each growth logged with -v
imgprep -s 64 --encode raw "$T/img" > "$T/raw.rec" 2>/dev/null
expect_exit 0 mkdb -v --map-size 64K "$T/grow.lmdb" < "$T/raw.rec"
expect_err "map full at 64.0 KiB, grown to 128.0 KiB"
[ "$(count_of "$T/grow.lmdb")" = 12 ] || fail "grown database lost records"

# --- bad streams: each an error naming the record and its source; nothing left behind
expect_exit 1 mkdb "$T/e.lmdb" < /dev/null
expect_err "stdin: no records (empty input)"
expect_err "e.lmdb: not created"
no_db "$T/e.lmdb"

# a stream that cannot be read says why (here a folder on standard input)
expect_exit 1 mkdb "$T/d.lmdb" < "$T/img"
expect_err "stdin: record 0 (byte offset 0): read error: Is a directory"
no_db "$T/d.lmdb"

size=$(wc -c < "$T/all.rec")
head -c $((size - 10)) "$T/all.rec" > "$T/trunc.rec"
expect_exit 1 mkdb "$T/t.lmdb" < "$T/trunc.rec"
expect_err "stdin: record 11 (byte offset [0-9]*): truncated record"
expect_err "the last good record was 10 (.*img/c2/p2.ppm)"
# the closing progress line must not read as a success
expect_err "t.lmdb: 11 records, .*, stopped by the error above"
no_db "$T/t.lmdb"

imgprep -s 8 "$T/img/c1"/*.ppm > "$T/small.rec" 2>/dev/null
cat "$T/all.rec" "$T/small.rec" > "$T/mixed.rec"
expect_exit 1 mkdb "$T/m.lmdb" < "$T/mixed.rec"
expect_err "stdin: record 12 (.*img/c1/p0.ppm): size 8x8x3 differs from the first record's 16x16x3 (.*img/c0/p0.ppm)"
no_db "$T/m.lmdb"

imgprep -s 16 --encode raw "$T/img" > "$T/rawsame.rec" 2>/dev/null
cat "$T/all.rec" "$T/rawsame.rec" > "$T/enc.rec"
expect_exit 1 mkdb "$T/n.lmdb" < "$T/enc.rec"
expect_err "record 12 (.*img/c0/p0.ppm): encoding raw differs from the first record's jpeg"
no_db "$T/n.lmdb"

imgprep -s 16 "$T/img/c2/p3.ppm" > "$T/unlabelled.rec" 2>/dev/null
cat "$T/all.rec" "$T/unlabelled.rec" > "$T/lab.rec"
expect_exit 1 mkdb "$T/l.lmdb" < "$T/lab.rec"
expect_err "record 12 (.*p3.ppm): unlabelled (-1), but the records before it are labelled"
no_db "$T/l.lmdb"

{ cat "$T/all.rec"; printf 'this is not a record'; } > "$T/garbage.rec"
expect_exit 1 mkdb "$T/g.lmdb" < "$T/garbage.rec"
expect_err "record 12 (byte offset $size): not an anet record"
no_db "$T/g.lmdb"

# a stream of unlabelled records alone is fine
expect_exit 0 mkdb "$T/u.lmdb" < "$T/unlabelled.rec"
mkdb --info "$T/u.lmdb" | grep -q "labels: *none" || fail "unlabelled database not shown as such"

# --- an existing database: refused without --force, untouched by a failed run, replaced
#     by a complete one with --force
cksum < "$T/a.lmdb/data.mdb" > "$T/sum.before"
expect_exit 1 mkdb "$T/a.lmdb" < "$T/all.rec"
expect_err "exists (use --force"
expect_exit 1 mkdb --force "$T/a.lmdb" < "$T/trunc.rec"
expect_err "a.lmdb: left as it was"
cksum < "$T/a.lmdb/data.mdb" | cmp -s - "$T/sum.before" || fail "a failed run changed the existing database"
[ ! -e "$T/a.lmdb.tmp" ] || fail "a.lmdb.tmp left behind"
expect_exit 0 mkdb --force "$T/a.lmdb" < "$T/small.rec"
[ "$(count_of "$T/a.lmdb")" = 4 ] || fail "--force did not replace the database"
mkdir "$T/photos" && touch "$T/photos/keep.jpg"
expect_exit 1 mkdb --force "$T/photos" < "$T/all.rec"
expect_err "not part of an LMDB database; refusing"
[ -f "$T/photos/keep.jpg" ] || fail "--force damaged a folder that is not a database"

# --- interruption: mkdb waits on a FIFO holding half the stream, then gets a signal
half=$(head -c $((size / 2)) "$T/all.rec" | wc -c)
# A command run with & starts with SIGINT ignored, which mkdb then leaves alone (as under nohup,
# below); env gives it back SIGINT's default, as an interactive shell's jobs have it.
start_on_fifo() { # DB: mkdb reading a FIFO fed half the records; sets $pid
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	env --default-signal=INT mkdb "$1" < "$T/fifo" 2>"$T/err" &
	pid=$!
	exec 3>"$T/fifo"
	head -c "$half" "$T/all.rec" >&3
	i=0
	while [ ! -e "$1.tmp/data.mdb" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -e "$1.tmp/data.mdb" ] || fail "mkdb did not start building $1.tmp"
	sleep 0.2
}
for sig in INT:130 TERM:143; do
	start_on_fifo "$T/i.lmdb"
	kill -"${sig%:*}" "$pid"
	set +e; wait "$pid"; rc=$?; set -e
	exec 3>&-
	[ "$rc" = "${sig#*:}" ] || { cat "$T/err"; fail "SIG${sig%:*}: exit $rc, expected ${sig#*:}"; }
	expect_err "interrupted; the unfinished DB.tmp was removed"
	no_db "$T/i.lmdb"
done

# a signal ignored when mkdb starts stays ignored: under nohup, a hangup does not stop the run
rm -f "$T/fifo"
mkfifo "$T/fifo"
(trap '' HUP; exec mkdb "$T/h.lmdb" < "$T/fifo" 2>"$T/err") &
pid=$!
exec 3>"$T/fifo"
head -c "$half" "$T/all.rec" >&3
i=0
while [ ! -e "$T/h.lmdb.tmp/data.mdb" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -HUP "$pid"
sleep 0.2
kill -0 "$pid" 2>/dev/null || { exec 3>&-; cat "$T/err"; fail "SIGHUP stopped mkdb started with SIGHUP ignored (nohup)"; }
tail -c +$((half + 1)) "$T/all.rec" >&3
exec 3>&-
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" = 0 ] || { cat "$T/err"; fail "mkdb under an ignored SIGHUP: exit $rc"; }
[ "$(count_of "$T/h.lmdb")" = 12 ] || fail "mkdb under an ignored SIGHUP: the database is incomplete"

# a killed run (SIGKILL) leaves DB.tmp but no DB; the next run replaces it
start_on_fifo "$T/k.lmdb"
kill -KILL "$pid"
set +e; wait "$pid"; set -e
exec 3>&-
[ -d "$T/k.lmdb.tmp" ] || fail "no DB.tmp after SIGKILL (the test needs one)"
[ ! -e "$T/k.lmdb" ] || fail "a killed run left a database"
expect_exit 1 mkdb --info "$T/k.lmdb"
expect_err "mkdb is building it, or was killed"
expect_exit 0 mkdb "$T/k.lmdb" < "$T/all.rec"
expect_err "replacing the unfinished build of an earlier run that was killed"
[ "$(count_of "$T/k.lmdb")" = 12 ] || fail "the run after a killed one is incomplete"
[ ! -e "$T/k.lmdb.tmp" ] || fail "k.lmdb.tmp left behind"

# two runs on the same DB: the second stops, the first finishes undisturbed
start_on_fifo "$T/two.lmdb"
first=$pid
mkdb "$T/two.lmdb" < "$T/all.rec" 2>"$T/err2" && fail "a second mkdb on the same DB ran"
grep -q "another mkdb is building" "$T/err2" || { cat "$T/err2"; fail "no 'another mkdb' message"; }
tail -c +$((half + 1)) "$T/all.rec" >&3
exec 3>&-
wait "$first" || { cat "$T/err"; fail "the first mkdb failed"; }
[ "$(count_of "$T/two.lmdb")" = 12 ] || fail "the first mkdb's database is incomplete"

# --- imgprep | mkdb on the shared fixtures (tests/data/README): a class tree, a list file
#     with labels, Fashion-MNIST's IDX files with class names, loose photos (unlabelled)
imgprep -s 32 "$DATA/tree" 2>/dev/null | mkdb -q "$T/tree.lmdb" || fail "imgprep | mkdb failed on tests/data/tree"
mkdb --info "$T/tree.lmdb" > "$T/info"
grep -q "records: *8$" "$T/info" && grep -q "32x32x3" "$T/info" && grep -q "names: apple, banana, cherry" "$T/info" ||
	{ cat "$T/info"; fail "the fixture tree's database is not 8 images of 32x32x3 in 3 named classes"; }
imgprep -s 32 -l "$DATA/list.txt" -r "$DATA" 2>/dev/null | mkdb -q "$T/list.lmdb" || fail "imgprep -l | mkdb failed"
mkdb --info "$T/list.lmdb" | grep -q "0..3 (4 classes), no class names" || fail "the list's labels 0..3 were not kept"
imgprep --idx "$DATA/fashion-64-images.idx.gz" "$DATA/fashion-64-labels.idx.gz" --classes "$DATA/fashion-classes.txt" \
	2>/dev/null | mkdb -q "$T/fashion.lmdb" || fail "imgprep --idx | mkdb failed"
mkdb --info "$T/fashion.lmdb" > "$T/info"
grep -q "records: *64$" "$T/info" && grep -q "28x28x1" "$T/info" && grep -q "encoding: *raw" "$T/info" &&
	grep -q "(10 classes), names: T-shirt/top" "$T/info" || { cat "$T/info"; fail "the Fashion-MNIST database is wrong"; }
imgprep -s 32 "$DATA"/photo-*.jpg 2>/dev/null | mkdb -q "$T/photos.lmdb" || fail "imgprep FILE... | mkdb failed"
mkdb --info "$T/photos.lmdb" | grep -q "labels: *none" || fail "loose photos should make an unlabelled database"
echo "test_mkdb: ok"
