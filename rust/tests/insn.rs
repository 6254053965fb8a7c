// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::insn::*;

#[test]
fn nop5_is_the_kernel_jump_label_nop() {
    assert_eq!(NOP5, [0x0f, 0x1f, 0x44, 0x00, 0x00]);
    assert_eq!(decode(0x1000, &NOP5), Some(Decoded::Nop));
    assert_eq!(resume_address(0x1000, &NOP5), Some(0x1005));
}

#[test]
fn jmp_forward_and_backward() {
    let site = 0xffff_ffff_a000_1000usize;
    let fwd = encode_jmp(site, site + 0x40).unwrap();
    assert_eq!(fwd, [0xe9, 0x3b, 0, 0, 0]);
    assert_eq!(
        decode(site, &fwd),
        Some(Decoded::Jmp {
            target: site + 0x40
        })
    );
    let back = encode_jmp(site, site - 0x10).unwrap();
    assert_eq!(back, [0xe9, 0xeb, 0xff, 0xff, 0xff]);
    assert_eq!(resume_address(site, &back), Some(site - 0x10));
}

#[test]
fn jmp_to_next_instruction_has_zero_displacement() {
    assert_eq!(encode_jmp(0x2000, 0x2005), Some([0xe9, 0, 0, 0, 0]));
}

#[test]
fn displacement_boundaries() {
    let site = 0x1_0000_0000usize;
    let next = site + INSN_SIZE;
    let max = next + i32::MAX as usize;
    let min = next - (i32::MAX as usize + 1);
    assert_eq!(encode_jmp(site, max), Some([0xe9, 0xff, 0xff, 0xff, 0x7f]));
    assert_eq!(encode_jmp(site, min), Some([0xe9, 0x00, 0x00, 0x00, 0x80]));
    assert_eq!(encode_jmp(site, max + 1), None);
    assert_eq!(encode_jmp(site, min - 1), None);
    for target in [max, min, next, next - 1, next + 1] {
        let insn = encode_jmp(site, target).unwrap();
        assert_eq!(decode(site, &insn), Some(Decoded::Jmp { target }));
    }
}

#[test]
fn encoding_at_the_top_of_the_address_space() {
    let site = usize::MAX - 0x20;
    let insn = encode_jmp(site, site - 0x100).unwrap();
    assert_eq!(
        decode(site, &insn),
        Some(Decoded::Jmp {
            target: site - 0x100
        })
    );
    assert_eq!(encode_jmp(usize::MAX - 2, 0), None);
}

#[test]
fn other_bytes_are_not_site_instructions() {
    assert_eq!(decode(0, &[0xcc, 0x1f, 0x44, 0, 0]), None);
    assert_eq!(decode(0, &[0x0f, 0x1f, 0x44, 0, 1]), None);
    assert_eq!(decode(0, &[0xeb, 0x03, 0x90, 0x90, 0x90]), None);
}

#[test]
fn for_jump_selects_the_instruction() {
    assert_eq!(for_jump(0x3000, 0x3100, false), Some(NOP5));
    assert_eq!(for_jump(0x3000, 0x3100, true), encode_jmp(0x3000, 0x3100));
}
