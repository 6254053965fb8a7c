// SPDX-License-Identifier: GPL-2.0
/*
 * The test's oracle for what a site holds, independent of batchpoke's own
 * encoder: the kernel's x86 instruction decoder (insn_decode_kernel(), as
 * kprobes and the kernel's jump-label code use it). The decoder is not
 * exported, so its source is compiled in here.
 */
#include <linux/errno.h>
#include <asm/insn.h>

#include "inat.c"
#include "insn.c"

#include "fixtures.h"

/*
 * Decodes the instruction at @addr. Returns BATCHPOKE_TEST_NOP5 for a
 * 5-byte NOP, BATCHPOKE_TEST_JMP32 for a 5-byte jmp rel32 (its destination
 * in *@target), BATCHPOKE_TEST_TEST32 for a 5-byte test eax, imm32 (in
 * *@target the destination a jmp rel32 with that immediate would have),
 * BATCHPOKE_TEST_OTHER for anything else (its length in *@target), or
 * -EINVAL when the bytes do not decode.
 */
int batchpoke_test_decode(unsigned long addr, unsigned long *target)
{
	struct insn insn;

	if (insn_decode_kernel(&insn, (void *)addr))
		return -EINVAL;
	if (insn.length == 5 && insn.opcode.nbytes == 1 && insn.opcode.bytes[0] == 0xe9) {
		*target = addr + insn.length + insn.immediate.value;
		return BATCHPOKE_TEST_JMP32;
	}
	/*
	 * A batchpoke key's site falls through as a9 imm32 while registered,
	 * whose immediate is its jump's rel32, so that a flip writes only the
	 * first byte. No prefix: a prefixed a9 of five bytes can only be
	 * test ax, imm16 (66 and one more prefix). The caller compares the
	 * destination the immediate stands for with the site's jump-table
	 * target.
	 */
	if (insn.length == 5 && !insn.prefixes.nbytes && insn.opcode.nbytes == 1 &&
	    insn.opcode.bytes[0] == 0xa9) {
		*target = addr + insn.length + (long)(s32)insn.immediate.value;
		return BATCHPOKE_TEST_TEST32;
	}
	if (insn.length == 5 && insn.opcode.nbytes == 2 && insn.opcode.bytes[0] == 0x0f &&
	    insn.opcode.bytes[1] == 0x1f)
		return BATCHPOKE_TEST_NOP5;
	*target = insn.length;
	return BATCHPOKE_TEST_OTHER;
}
