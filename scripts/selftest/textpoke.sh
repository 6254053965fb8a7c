# SPDX-License-Identifier: GPL-2.0
# PERF_RECORD_TEXT_POKE for batchpoke's sites, sourced by batchpoke.sh,
# which calls textpoke_cases with batchpoke loaded and counts
# TEXTPOKE_CASES in its plan. Uses batchpoke.sh's SYS, KEYS, SITES_FILE,
# here and ktap.sh.
#
# batchpoke-text-poke (scripts/perf/, built by check.sh) opens a perf event
# with text_poke = 1 on every CPU, runs a transaction and prints every
# record as "0x<addr> <old bytes> > <new bytes>". A tracer decoding kernel
# code needs exactly one record per site the transaction changed, with the
# bytes the site held before and holds after, as debugfs reads them from
# the text; and none for a site it did not change.
TEXTPOKE_CASES=2

# textpoke_flip NAME KEY...: one transaction flipping every KEY, against
# the records it produced.
textpoke_flip() {
	name=$1
	shift
	req=
	for k in "$@"; do req="$req $k=$((1 - $(cat "$KEYS/$k/enabled")))"; done
	cat "$SITES_FILE" >/tmp/textpoke.before
	"$here/batchpoke-text-poke" sh -c "echo '$req' >$SYS/transaction" >/tmp/textpoke.got 2>/tmp/textpoke.err
	rc=$?
	cat "$SITES_FILE" >/tmp/textpoke.after
	# Expected: every batchpoke site whose bytes changed, old > new.
	awk 'NR == FNR { $1 = ""; a = $2; $2 = ""; before[a] = substr($0, 3); next }
		{ a = $2; $1 = ""; $2 = ""; now = substr($0, 3); if (before[a] != now) print a " " before[a] " > " now }' \
		/tmp/textpoke.before /tmp/textpoke.after | sort >/tmp/textpoke.want
	# Got: the records at batchpoke's sites (the kernel may poke elsewhere).
	awk 'NR == FNR { site[$2] = 1; next } site[$1]' /tmp/textpoke.before /tmp/textpoke.got |
		sort >/tmp/textpoke.mine
	want=$(wc -l </tmp/textpoke.want) got=$(wc -l </tmp/textpoke.mine)
	ktap_diag "$name:$req: $want sites changed, $got records at sites, $(wc -l </tmp/textpoke.got) records in all"
	if [ $rc = 0 ] && [ "$want" -gt 0 ] && cmp -s /tmp/textpoke.want /tmp/textpoke.mine; then
		ktap_ok "$name"
	else
		ktap_fail "$name" "rc=$rc $(head -c 200 /tmp/textpoke.err) $(diff /tmp/textpoke.want /tmp/textpoke.mine | head -n 4 | tr '\n' ' ')"
	fi
}

textpoke_cases() {
	if [ ! -x "$here/batchpoke-text-poke" ]; then
		ktap_skip textpoke_one_record_per_changed_site "batchpoke-text-poke not in $here"
		ktap_skip textpoke_records_when_flipped_back "batchpoke-text-poke not in $here"
		return
	fi
	textpoke_flip textpoke_one_record_per_changed_site batchpoke.demo_b batchpoke.demo_c
	textpoke_flip textpoke_records_when_flipped_back batchpoke.demo_b batchpoke.demo_c
}
