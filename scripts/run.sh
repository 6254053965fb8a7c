#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh KDIR: the main job. Boots the VM, loads batchpoke, shows what it
# did, unloads it. The whole console is shown and kept in the guest log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kdir=${1:?usage: run.sh KDIR}

exec "$here/vm-run.sh" --kdir "$kdir" --cpus "${RUN_CPUS:-4}" \
	--log "$BATCHPOKE_CACHE/logs/run.log" -- './demo.sh'
