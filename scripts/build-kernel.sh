#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds (once) the Rust-enabled kernel tree for $KERNEL/$KERNEL_FLAVOR and
# prints its path. The tree lives in the cache under a key made of
# everything that went into it: the source package, the config fragments,
# rustc, bindgen and libclang. A tree whose key is unchanged is reused.
#
#   build-kernel.sh          build if needed, print the tree
#   build-kernel.sh --path   print the tree the current inputs map to
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# The distro flavor starts from Debian's own config (distro.config says
# how); every other flavor from tinyconfig and batchpoke.config.
if [ "$KERNEL_FLAVOR" = distro ]; then
	[ "$KERNEL" = 7.3 ] || die "KERNEL_FLAVOR=distro is Debian's 7.3; KERNEL=$KERNEL has no Rust-enabled Debian kernel"
	fragments=("$here/kconfig/distro.config")
else
	fragments=("$here/kconfig/batchpoke.config")
	[ "$KERNEL_FLAVOR" = default ] || fragments+=("$here/kconfig/$KERNEL_FLAVOR.config")
fi
# A flavor's fragment may take in another's (`# includes: NAME.config`):
# one tree then serves both, and the including flavor's checks cover both.
for inc in $(sed -n 's/^# includes: *//p' "${fragments[-1]}" 2>/dev/null); do
	fragments+=("$here/kconfig/$inc")
done
for f in "${fragments[@]}"; do [ -f "$f" ] || die "no config fragment $f for KERNEL_FLAVOR=$KERNEL_FLAVOR"; done

llvm=$(flavor_llvm)
if [ -n "$llvm" ] && [ "${KERNEL%%.*}" -ge 7 ] && [ "$llvm" -lt 17 ]; then
	die "KERNEL_FLAVOR=$KERNEL_FLAVOR asks for LLVM $llvm; Linux $KERNEL with Rust needs LLVM >= 17"
fi

cache_key() {
	{
		ls "$BATCHPOKE_CACHE/src/linux-source-$KERNEL"/*.deb 2>/dev/null | xargs -r -n1 basename
		[ "$KERNEL_FLAVOR" != distro ] ||
			ls "$BATCHPOKE_CACHE/src/linux-config-$KERNEL"/*.deb 2>/dev/null | xargs -r -n1 basename
		cat "${fragments[@]}"
		rustc --version
		echo "bindgen $BINDGEN_VERSION libclang $LIBCLANG_VERSION"
		gcc --version | head -n1
		[ -z "$llvm" ] || "clang-$llvm" --version | head -n1
	} | sha256sum | cut -c1-12
}

tree_path() { echo "$BATCHPOKE_CACHE/kernels/linux-$KERNEL-$KERNEL_FLAVOR-$(cache_key)"; }

if [ "${1:-}" = --path ]; then
	tree_path
	exit 0
fi

# A tree already built needs no lock (a tree of this flavor was built on
# this machine, so the toolchain its key asks for is there).
if ls "$BATCHPOKE_CACHE/kernels/linux-$KERNEL-$KERNEL_FLAVOR"-*/.batchpoke-built >/dev/null 2>&1; then
	tree=$(tree_path 2>/dev/null) || tree=
	if [ -n "$tree" ] && [ -f "$tree/.batchpoke-built" ]; then
		"$here/setup-toolchain.sh"
		say "kernel $KERNEL ($KERNEL_FLAVOR) is cached: $tree"
		echo "$tree"
		exit 0
	fi
fi
# One builder at a time (`.ci/run`'s two lanes each build the trees they
# need while the other runs checks): set-up, downloads and builds never
# overlap, and a check whose tree is being built waits for it instead of
# starting over.
mkdir -p "$BATCHPOKE_CACHE/kernels"
exec 9>"$BATCHPOKE_CACHE/kernels/.build.lock"
if ! flock -n 9; then
	say "another kernel tree is being built; waiting for it (lock $BATCHPOKE_CACHE/kernels/.build.lock)"
	flock 9
fi

"$here/setup-toolchain.sh"
tarball=$("$here/fetch-kernel-source.sh")
[ "$KERNEL_FLAVOR" != distro ] || debian_config=$("$here/fetch-kernel-source.sh" --config)
tree=$(tree_path)
if [ -f "$tree/.batchpoke-built" ]; then
	say "kernel $KERNEL ($KERNEL_FLAVOR) is cached: $tree"
	echo "$tree"
	exit 0
fi

kmake() {
	make -C "$work" -s BINDGEN="$BINDGEN" LIBCLANG_PATH="$(libclang_path)" ${llvm:+LLVM=-$llvm} "$@"
}

# Built in place (kbuild records absolute paths); the stamp marks completion
# and an interrupted build is started over.
work=$tree
rm -rf "$work"
trap '[ -f "$work/.batchpoke-built" ] || rm -rf "$work"' EXIT
mkdir -p "$work"
say "unpacking $(basename "$tarball") into $work"
tar -xf "$tarball" -C "$work" --strip-components=1

if [ "$KERNEL_FLAVOR" = distro ]; then
	say "configuring: Debian's $(basename "$debian_config" .xz), no modules, + ${fragments[*]##*/}"
	xzcat "$debian_config" | sed -E 's/^(CONFIG_[A-Za-z0-9_]+)=m$/# \1 is not set/' >"$work/.config"
else
	say "configuring: tinyconfig + ${fragments[*]##*/}"
	kmake tinyconfig >/dev/null
fi
(cd "$work" && ./scripts/kconfig/merge_config.sh -m -O . .config "${fragments[@]}" >/dev/null)
kmake olddefconfig >/dev/null

# Kconfig silently drops options whose dependencies are missing: a fragment
# line that did not survive is a broken build, not a quiet surprise.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$work/.config" || { say "config fragment line not satisfied: $line (have: $(grep -E "^(# )?${line%%=*}[= ]" "$work/.config" || echo unset))"; bad=1; }
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		! grep -q "^$opt=" "$work/.config" || { say "config fragment line not satisfied: $line"; bad=1; }
		;;
	esac
done < <(cat "${fragments[@]}")
((bad == 0)) || die "kernel config for $KERNEL ($KERNEL_FLAVOR) does not satisfy the fragment; see the lines above"

if [ "$KERNEL_FLAVOR" = distro ]; then
	say "building Linux $KERNEL ($KERNEL_FLAVOR: Debian's built-in options) with $(nproc) jobs; about 12 minutes on 2 idle cores"
else
	say "building Linux $KERNEL ($KERNEL_FLAVOR) with $(nproc) jobs; this takes 5-20 minutes"
fi
kmake -j"$(nproc)"
[ -x "$work/usr/gen_init_cpio" ] || kmake usr/gen_init_cpio
[ -f "$work/rust/kernel.o" ] || die "the tree built without Rust support"
# Modules must be built with the tree's compiler: record the LLVM suffix.
[ -z "$llvm" ] || echo "-$llvm" >"$work/.batchpoke-llvm"
touch "$work/.batchpoke-built"
say "kernel $KERNEL ($KERNEL_FLAVOR) built: $tree"
echo "$tree"
