#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetches Debian's linux-source-$KERNEL package into the cache and prints the
# path of its source tarball; with --config, Debian's linux-config-$KERNEL
# (the distro flavor's base) and the path of its amd64 config. The system's apt configuration is never
# changed: 7.3 comes from trixie-backports through a private apt state
# directory whose sources point at the mirror the system already uses;
# 6.12 is in the system's own lists.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkg=linux-source-$KERNEL
tarball() { ls "$dir"/root/usr/src/linux-source-"$KERNEL".tar.* 2>/dev/null | head -n1; }
if [ "${1:-}" = --config ]; then
	pkg=linux-config-$KERNEL
	tarball() { ls "$dir"/root/usr/src/linux-config-"$KERNEL"/config.amd64_none_amd64.xz 2>/dev/null; }
fi
dir=$BATCHPOKE_CACHE/src/$pkg
mkdir -p "$dir"

if [ -z "$(tarball)" ]; then
	case $KERNEL in
	6.12) suite= ;;
	7.*) suite=trixie-backports ;;
	*) die "unsupported KERNEL=$KERNEL (use 7.3 or 6.12)" ;;
	esac
	apt_opts=()
	# The download lands in the cache, which apt's _apt sandbox user
	# cannot write to when the cache belongs to root.
	[ "$(id -u)" != 0 ] || apt_opts+=(-o APT::Sandbox::User=root)
	if [ -n "$suite" ]; then
		# Reuse the mirror of the system's Debian sources.
		mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
		[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \([^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
		[ -n "$mirror" ] || die "cannot find the Debian mirror in the system's apt sources"
		priv=$BATCHPOKE_CACHE/apt
		mkdir -p "$priv/lists/partial" "$priv/cache/archives/partial"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$priv/sources.list"
		apt_opts+=(-o Dir::Etc::SourceList="$priv/sources.list" -o Dir::Etc::SourceParts=-
			-o Dir::State::Lists="$priv/lists" -o Dir::Cache="$priv/cache")
		say "fetching $pkg from $suite (private apt state in $priv)"
		apt-get "${apt_opts[@]}" update -qq
	else
		say "fetching $pkg"
		apt-get update -qq
	fi
	(cd "$dir" && apt-get "${apt_opts[@]}" download -qq "$pkg")
	deb=$(ls "$dir"/"$pkg"_*.deb | head -n1)
	dpkg-deb -x "$deb" "$dir/root"
	[ -n "$(tarball)" ] || die "$deb holds no $( [ "$pkg" = "linux-source-$KERNEL" ] && echo source tarball || echo amd64 config)"
fi
tarball
