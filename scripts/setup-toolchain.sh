#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs what building and testing batchpoke needs, skipping whatever is
# already present: Debian packages, the pinned Rust toolchain with rust-src,
# bindgen-cli (cargo, into the cache) and libclang >= 17 (PyPI wheel, in a
# venv in the cache). Safe to run any number of times.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

llvm=$(flavor_llvm)
pkgs=$APT_PACKAGES
[ -z "$llvm" ] || pkgs="$pkgs clang-$llvm lld-$llvm llvm-$llvm"
missing=()
for pkg in $pkgs; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
if ((${#missing[@]})); then
	say "installing Debian packages: ${missing[*]}"
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	say "Debian packages: present"
fi

command -v rustup >/dev/null || die "rustup is required (https://rustup.rs) to install Rust $RUST_TOOLCHAIN"
if ! rustup run "$RUST_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
	say "installing Rust $RUST_TOOLCHAIN"
	rustup toolchain install --profile minimal "$RUST_TOOLCHAIN"
fi
installed=$(rustup component list --toolchain "$RUST_TOOLCHAIN" --installed)
for comp in rust-src rustfmt clippy; do
	if ! grep -q "^$comp" <<<"$installed"; then
		say "adding rustup component $comp to $RUST_TOOLCHAIN"
		rustup component add --toolchain "$RUST_TOOLCHAIN" "$comp"
	fi
done
say "Rust: $(rustc --version) with rust-src"

if ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	say "installing bindgen-cli $BINDGEN_VERSION into $BINDGEN_ROOT (takes a few minutes)"
	cargo install --locked --quiet --root "$BINDGEN_ROOT" bindgen-cli --version "$BINDGEN_VERSION"
fi
say "bindgen: $("$BINDGEN" --version)"

if [ -z "$(libclang_path)" ]; then
	say "installing libclang $LIBCLANG_VERSION (PyPI wheel) into $LIBCLANG_VENV"
	python3 -m venv "$LIBCLANG_VENV"
	"$LIBCLANG_VENV/bin/pip" install --quiet --disable-pip-version-check "libclang==$LIBCLANG_VERSION"
fi
[ -n "$(libclang_path)" ] || die "libclang wheel installed but clang/native not found in $LIBCLANG_VENV"
say "libclang: $(libclang_path)"
