#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh KDIR: the main job. Boots the VM, loads batchpoke, shows what it
# did (scripts/selftest/demo.sh's output), unloads it. The full guest log,
# kernel messages included, is kept in $BATCHPOKE_LOGS/run.log and its
# relevant part is shown if the run fails, a kernel WARNING included.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kdir=${1:?usage: run.sh KDIR}

exec "$here/vm-run.sh" --kdir "$kdir" --cpus "${RUN_CPUS:-4}" \
	--log "$BATCHPOKE_LOGS/run.log" -- './demo.sh'
