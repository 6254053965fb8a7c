# SPDX-License-Identifier: GPL-2.0
# The int3 handler outside a batch, sourced by batchpoke.sh, which calls
# trap_cases with batchpoke loaded, no client loaded, and counts TRAP_CASES
# in its plan. Uses batchpoke.sh's SYS, KEYS, MODDIR, SITES_FILE, flip and
# ktap.sh.
#
# A CPU may run an int3 it fetched before a batch ended, after it ended (a
# stale fetch). batchpoke's handler must then send it where the site's
# current bytes go. debugfs batchpoke/trap calls the handler as the die
# chain would for an int3 at the address written to it; the expected
# destination is decoded here, in shell arithmetic, from the bytes
# debugfs batchpoke/sites reads from the text: NOP5 (an ordinary static
# key's site falling through) and a9 imm32 (a registered batchpoke key's:
# test eax, imm32, whose immediate is the rel32 of the site's jmp) fall
# through to the site + 5, e9 rel32 jumps to the site + 5 + rel32. The
# demo keys are batchpoke keys, and each of their sites is seen in both
# forms: the immediate of its a9 must be the rel32 of its e9.
TRAP_CASES=6
TRAP_FILE=/sys/kernel/debug/batchpoke/trap

# trap_at ADDR: the handler's verdict for an int3 at ADDR.
trap_at() {
	echo "$1" >"$TRAP_FILE" || return 1
	head -n 1 "$TRAP_FILE"
}

# trap_check_sites PREFIX [BEFORE]: every site of every key named PREFIX*
# resumes where its bytes go. A site's a9 alone does not show whether its
# immediate is its jump's rel32 (where it resumes does not depend on it);
# BEFORE, a copy of the sites file taken before every such key was
# flipped, does: a site that holds a9 now, or held it then, must hold e9
# in the other, with the same four bytes after it. Prints the first
# mismatch and fails, or prints the number of sites checked.
trap_check_sites() {
	if [ -n "${2:-}" ]; then
		bad=$(awk -v p="$1" '
			index($1, p) != 1 { next }
			FILENAME == ARGV[1] { was[$2] = $3 " " $4 " " $5 " " $6 " " $7; next }
			{
				now = $3 " " $4 " " $5 " " $6 " " $7
				split(was[$2], w, " ")
				pair = $3 w[1]
				if (($3 == "a9" || w[1] == "a9") && ((pair != "a9e9" && pair != "e9a9") ||
				    ($4 $5 $6 $7) != (w[2] w[3] w[4] w[5]))) {
					print $1 " site " $2 " held (" was[$2] ") before the flip, holds (" \
					    now "): expected a9 and e9 of one rel32"
					exit
				}
			}' "$2" "$SITES_FILE")
		[ -z "$bad" ] || { echo "$bad"; return 1; }
	fi
	n=0
	while read -r name addr b0 b1 b2 b3 b4; do
		case $name in "$1"*) ;; *) continue ;; esac
		if [ "$b0 $b1 $b2 $b3 $b4" = "0f 1f 44 00 00" ] || [ "$b0" = a9 ]; then
			want=$((addr + 5))
		elif [ "$b0" = e9 ]; then
			rel=$((0x$b4$b3$b2$b1))
			[ "$rel" -lt $((0x80000000)) ] || rel=$((rel - 0x100000000))
			want=$((addr + 5 + rel))
		else
			echo "$name site $addr holds $b0 $b1 $b2 $b3 $b4"
			return 1
		fi
		echo "$addr" >"$TRAP_FILE" || { echo "cannot write $TRAP_FILE"; return 1; }
		read -r verdict got <"$TRAP_FILE"
		if [ "$verdict" != stop ] || [ $((got)) != "$want" ]; then
			echo "$name site $addr ($b0 $b1 $b2 $b3 $b4): handler says '$verdict $got', expected stop at $(printf '%#x' "$want")"
			return 1
		fi
		n=$((n + 1))
	done <"$SITES_FILE"
	echo "$n"
}

trap_cases() {
	if [ ! -w "$TRAP_FILE" ]; then
		i=0
		while [ $i -lt $TRAP_CASES ]; do ktap_fail trap_case "no $TRAP_FILE"; i=$((i + 1)); done
		return
	fi
	# Both instructions of every site: the demo keys as they are, then
	# each flipped.
	before=$(for k in a b c d; do cat "$KEYS/batchpoke.demo_$k/enabled"; done | tr -d '\n')
	if out=$(trap_check_sites batchpoke.demo_) && [ "$out" = 585 ]; then
		ktap_ok stale_int3_at_each_of_585_sites_goes_where_its_bytes_go
	else
		ktap_fail stale_int3_at_each_of_585_sites_goes_where_its_bytes_go "$out"
	fi
	inv=
	for k in a b c d; do
		v=$(cat "$KEYS/batchpoke.demo_$k/enabled")
		inv="$inv batchpoke.demo_$k=$((1 - v))"
	done
	cat "$SITES_FILE" >/tmp/trap.sites
	echo "$inv" >"$SYS/transaction"
	if out=$(trap_check_sites batchpoke.demo_ /tmp/trap.sites) && [ "$out" = 585 ]; then
		ktap_ok stale_int3_at_each_site_flipped_goes_where_its_bytes_go
	else
		ktap_fail stale_int3_at_each_site_flipped_goes_where_its_bytes_go "$out"
	fi
	i=0
	for k in a b c d; do
		flip "batchpoke.demo_$k" "$(echo "$before" | cut -c$((i + 1)))"
		i=$((i + 1))
	done
	# Inside a site, or at text that is no site: not batchpoke's int3.
	bad=
	first=$(sed -n 's/^batchpoke\.demo_d \(0x[0-9a-f]*\) .*/\1/p' "$SITES_FILE" | head -n 1)
	for off in 1 2 3 4; do
		v=$(trap_at "$(printf '%#x' $((first + off)))")
		[ "$v" = done ] || bad="$bad +$off:$v"
	done
	if [ -n "$first" ] && [ -z "$bad" ]; then
		ktap_ok int3_inside_a_site_is_not_batchpokes
	else
		ktap_fail int3_inside_a_site_is_not_batchpokes "site ${first:-?}:$bad"
	fi
	notify=$(awk '$3 == "batchpoke_int3_notify" { print "0x" $1; exit }' /proc/kallsyms)
	v=$(trap_at "${notify:-0}")
	if [ -n "$notify" ] && [ "$v" = done ]; then
		ktap_ok int3_at_other_text_is_not_batchpokes
	else
		ktap_fail int3_at_other_text_is_not_batchpokes "at ${notify:-?}: $v"
	fi
	# A client's sites leave the table when it unregisters, and when it
	# unloads without unregistering (the module notifier): after that its
	# text may be freed, and an int3 there is not batchpoke's.
	for how in unregisters forgets; do
		case $how in unregisters) arg= ;; forgets) arg=forget=1 ;; esac
		name=client_that_${how}_leaves_the_table
		if ! insmod "$MODDIR/batchpoke_demo.ko" $arg; then
			ktap_fail "$name" "insmod batchpoke_demo $arg"
			continue
		fi
		site=$(sed -n 's/^batchpoke_demo\.[a-z_]* \(0x[0-9a-f]*\) .*/\1/p' "$SITES_FILE" | head -n 1)
		loaded=$(trap_at "${site:-0}")
		listed_loaded=$(sed -n 's/^table \([0-9]*\) sites$/\1/p' "$TRAP_FILE")
		rmmod batchpoke_demo
		gone=$(trap_at "${site:-0}")
		listed_gone=$(sed -n 's/^table \([0-9]*\) sites$/\1/p' "$TRAP_FILE")
		# The handler's table against the sites file (batchpoke's other
		# reading): the client's sites in it while loaded, out after.
		total=$(wc -l <"$SITES_FILE")
		if [ -n "$site" ] && [ "${loaded%% *}" = stop ] && [ "$gone" = done ] &&
			[ "$listed_gone" = "$total" ] && [ "$listed_loaded" -gt "$total" ]; then
			ktap_ok "$name"
		else
			ktap_fail "$name" "site ${site:-?}: loaded '$loaded' ($listed_loaded sites listed), unloaded '$gone' ($listed_gone listed, $total live)"
		fi
	done
}
