#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetches QEMU 10.0 (Debian bookworm-backports' qemu-system-x86 and the two
# packages of shared files it needs) into the cache, for runs with
# multi-threaded TCG (vm-run.sh --parallel), and prints the path of its
# qemu-system-x86_64. Nothing is installed system-wide: the packages come
# through a private apt state directory whose sources point at the mirror
# the system already uses, and are unpacked with dpkg-deb -x. Debian 12's
# own QEMU (7.2) stays the default for every other run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite=bookworm-backports
pkgs=(qemu-system-x86 qemu-system-common qemu-system-data)
top=$BATCHPOKE_CACHE/qemu
# Two checkouts (or .ci/run's two lanes) may ask at once: one fetches.
mkdir -p "$top"
exec 8>"$top/.fetch.lock"
flock 8
# The newest build fetched so far, if any.
bin=$(ls -d "$top"/*/root/usr/bin/qemu-system-x86_64 2>/dev/null | sort -V | tail -n1 || true)

if [ -z "$bin" ]; then
	mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \([^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
	[ -n "$mirror" ] || die "cannot find the Debian mirror in the system's apt sources"
	priv=$BATCHPOKE_CACHE/apt-$suite
	mkdir -p "$priv/lists/partial" "$priv/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$priv/sources.list"
	apt_opts=(-o Dir::Etc::SourceList="$priv/sources.list" -o Dir::Etc::SourceParts=-
		-o Dir::State::Lists="$priv/lists" -o Dir::Cache="$priv/cache")
	# The download lands in the cache, which apt's _apt sandbox user
	# cannot write to when the cache belongs to root.
	[ "$(id -u)" != 0 ] || apt_opts+=(-o APT::Sandbox::User=root)
	say "fetching QEMU $QEMU_PARALLEL_SERIES from $suite (private apt state in $priv)"
	apt-get "${apt_opts[@]}" update -qq
	version=$(apt-cache "${apt_opts[@]}" show qemu-system-x86 |
		sed -n 's/^Version: \(.*~bpo12.*\)$/\1/p' | sort -V | tail -n1)
	case $version in
	1:"$QEMU_PARALLEL_SERIES".*) ;;
	*) die "$suite has qemu-system-x86 '${version:-none}', not $QEMU_PARALLEL_SERIES.x" ;;
	esac
	dir=$top/${version#1:}
	rm -rf "$dir"
	mkdir -p "$dir/debs"
	(cd "$dir/debs" && apt-get "${apt_opts[@]}" download -qq "${pkgs[@]/%/=$version}")
	for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
	rm -rf "$dir/debs"
	bin=$dir/root/usr/bin/qemu-system-x86_64
	[ -x "$bin" ] || die "the packages hold no qemu-system-x86_64"
fi
"$bin" --version 2>/dev/null | grep -q "version $QEMU_PARALLEL_SERIES\." ||
	die "$bin does not run on this system, or is not QEMU $QEMU_PARALLEL_SERIES"
echo "$bin"
