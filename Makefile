# SPDX-License-Identifier: GPL-2.0
#
# batchpoke: out-of-tree Rust kernel module. See README.md.
#
#   make                 build batchpoke.ko and the samples against KDIR
#   make run             boot the VM, load batchpoke, show what it does
#   make check           host unit tests + the in-VM selftests
#   make bench           batchpoke vs serial vs the kernel's static keys
#   make kernel          build (or reuse) the cached Rust-enabled kernel
#   make vm-shell        interactive guest with the modules in /lib/batchpoke
#   make rust-analyzer   rust-project.json for editors
#   make rustfmt         format with the kernel's .rustfmt.toml
#   make style           rustfmt --check + clippy (also part of make check)
#   make clean
#
# KDIR=<tree>            build against another Rust-enabled kernel tree
# KERNEL=7.3|6.12        which cached kernel (default 7.3)
# KERNEL_FLAVOR=default  which config flavor of the cached kernel
# CLIPPY=1               run clippy on the module crates while building

KERNEL ?= 7.3
KERNEL_FLAVOR ?= default
export KERNEL KERNEL_FLAVOR

SCRIPTS := $(CURDIR)/scripts
LIB := . $(SCRIPTS)/lib.sh

# With no KDIR the cached tree is used, built on first use (which sets up
# the toolchain too); with a KDIR only the toolchain is needed.
ifeq ($(KDIR),)
KDIR_DEP := kernel
KDIR = $(shell KERNEL=$(KERNEL) KERNEL_FLAVOR=$(KERNEL_FLAVOR) $(SCRIPTS)/build-kernel.sh --path)
else
KDIR_DEP := toolchain
endif

# The kernel's Makefile ignores BINDGEN from the environment, so every
# kernel make gets it on the command line.
# A tree built by clang (the debug and cfi flavors, scripts/kconfig/) records its LLVM
# suffix; its modules must be built the same way.
KMAKE = $(LIB) && $(MAKE) -C "$(KDIR)" M=$(CURDIR) BINDGEN="$$BINDGEN" \
	LIBCLANG_PATH="$$(libclang_path)" $(if $(CLIPPY),CLIPPY=1) \
	$$(test -f "$(KDIR)/.batchpoke-llvm" && echo LLVM=$$(cat "$(KDIR)/.batchpoke-llvm"))

.PHONY: all modules kernel toolchain check run bench vm-shell rust-analyzer rustfmt style clean kdir-ok

all: modules

toolchain:
	@$(SCRIPTS)/setup-toolchain.sh

kernel:
	@$(SCRIPTS)/build-kernel.sh >/dev/null

kdir-ok: $(KDIR_DEP)
	@$(SCRIPTS)/check-kdir.sh "$(KDIR)"
	@# Objects built against one tree must not be linked against another.
	@if [ -f .kdir ] && [ "$$(cat .kdir)" != "$(KDIR)" ]; then \
		echo "[batchpoke] KDIR changed: cleaning objects built for $$(cat .kdir)"; \
		$(MAKE) -s -C "$$(cat .kdir)" M=$(CURDIR) clean >/dev/null 2>&1 || true; \
	fi
	@echo "$(KDIR)" >.kdir

modules: kdir-ok
	@$(KMAKE) modules

rustfmt: kdir-ok
	@$(SCRIPTS)/style.sh "$(KDIR)" --fix

style: modules
	@$(SCRIPTS)/style.sh "$(KDIR)"

rust-analyzer: kdir-ok
	@$(KMAKE) rust-analyzer

check: modules
	@$(SCRIPTS)/check.sh "$(KDIR)"

run: modules
	@$(SCRIPTS)/run.sh "$(KDIR)"

bench: modules
	@$(SCRIPTS)/bench.sh "$(KDIR)"

vm-shell: modules
	@$(SCRIPTS)/vm-run.sh --kdir "$(KDIR)" --interactive

clean:
	@if [ -f .kdir ]; then $(MAKE) -s -C "$$(cat .kdir)" M=$(CURDIR) clean; fi
	@rm -f .kdir rust/machine/bindings_generated.rs
	@rm -rf rust/target
