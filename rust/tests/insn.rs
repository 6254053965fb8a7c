// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::insn::*;

/// `bytes` as an instruction.
fn b(bytes: &[u8]) -> Insn {
    Insn::from_slice(bytes).unwrap()
}

#[test]
fn nop5_is_the_kernel_jump_label_nop() {
    assert_eq!(NOP5.as_bytes(), [0x0f, 0x1f, 0x44, 0x00, 0x00]);
    assert_eq!(NOP5.len(), 5);
    assert_eq!(NOP5.width(), Some(Width::Near));
    assert_eq!(decode(0x1000, &NOP5), Some(Decoded::Nop));
    assert_eq!(resume_address(0x1000, &NOP5), Some(0x1005));
}

#[test]
fn jmp_forward_and_backward() {
    let site = 0xffff_ffff_a000_1000usize;
    let fwd = encode_jmp(site, site + 0x40, Width::Near).unwrap();
    assert_eq!(fwd.as_bytes(), [0xe9, 0x3b, 0, 0, 0]);
    assert_eq!(
        decode(site, &fwd),
        Some(Decoded::Jmp {
            target: site + 0x40
        })
    );
    let back = encode_jmp(site, site - 0x10, Width::Near).unwrap();
    assert_eq!(back.as_bytes(), [0xe9, 0xeb, 0xff, 0xff, 0xff]);
    assert_eq!(resume_address(site, &back), Some(site - 0x10));
}

#[test]
fn jmp_to_next_instruction_has_zero_displacement() {
    assert_eq!(
        encode_jmp(0x2000, 0x2005, Width::Near),
        Some(b(&[0xe9, 0, 0, 0, 0]))
    );
}

#[test]
fn displacement_boundaries() {
    let site = 0x1_0000_0000usize;
    let next = site + 5;
    let max = next + i32::MAX as usize;
    let min = next - (i32::MAX as usize + 1);
    assert_eq!(
        encode_jmp(site, max, Width::Near),
        Some(b(&[0xe9, 0xff, 0xff, 0xff, 0x7f]))
    );
    assert_eq!(
        encode_jmp(site, min, Width::Near),
        Some(b(&[0xe9, 0x00, 0x00, 0x00, 0x80]))
    );
    assert_eq!(encode_jmp(site, max + 1, Width::Near), None);
    assert_eq!(encode_jmp(site, min - 1, Width::Near), None);
    for target in [max, min, next, next - 1, next + 1] {
        let insn = encode_jmp(site, target, Width::Near).unwrap();
        assert_eq!(decode(site, &insn), Some(Decoded::Jmp { target }));
    }
}

#[test]
fn encoding_at_the_top_of_the_address_space() {
    let site = usize::MAX - 0x20;
    let insn = encode_jmp(site, site - 0x100, Width::Near).unwrap();
    assert_eq!(
        decode(site, &insn),
        Some(Decoded::Jmp {
            target: site - 0x100
        })
    );
    assert_eq!(encode_jmp(usize::MAX - 2, 0, Width::Near), None);
}

#[test]
fn other_bytes_are_not_site_instructions() {
    assert_eq!(decode(0, &b(&[0xcc, 0x1f, 0x44, 0, 0])), None);
    assert_eq!(decode(0, &b(&[0x0f, 0x1f, 0x44, 0, 1])), None);
    assert_eq!(decode(0, &b(&[0xeb, 0x03, 0x90, 0x90, 0x90])), None);
}

#[test]
fn for_jump_selects_the_instruction() {
    assert_eq!(
        for_jump(0x3000, 0x3100, Width::Near, false, Form::Kernel),
        Some(NOP5)
    );
    assert_eq!(
        for_jump(0x3000, 0x3100, Width::Near, true, Form::Kernel),
        encode_jmp(0x3000, 0x3100, Width::Near)
    );
}

// Short (2-byte) sites.

#[test]
fn nop2_is_the_kernel_short_jump_label_nop() {
    assert_eq!(NOP2.as_bytes(), [0x66, 0x90]);
    assert_eq!(NOP2.len(), 2);
    assert_eq!(NOP2.first(), 0x66);
    assert_eq!(NOP2.width(), Some(Width::Short));
    assert_eq!(NOP2, b(&[0x66, 0x90]));
    assert_eq!(nop(Width::Short), NOP2);
    assert_eq!(nop(Width::Near), NOP5);
    assert_eq!(decode(0x1000, &NOP2), Some(Decoded::Nop));
    assert_eq!(resume_address(0x1000, &NOP2), Some(0x1002));
    assert_eq!(resume_address(usize::MAX - 1, &NOP2), None);
}

#[test]
fn widths_have_their_lengths() {
    assert_eq!(Width::Short.len(), 2);
    assert_eq!(Width::Near.len(), 5);
    assert_eq!(MAX_INSN_SIZE, 5);
    assert_eq!(b(&[0xeb, 0x00]).width(), Some(Width::Short));
    assert_eq!(b(&[0xe9, 0, 0, 0, 0]).width(), Some(Width::Near));
    for len in [1, 3, 4] {
        assert_eq!(b(&[0x90; 5][..len]).width(), None, "len {len}");
    }
}

#[test]
fn insn_keeps_only_its_own_bytes() {
    assert_eq!(Insn::from_slice(&[]), None);
    assert_eq!(Insn::from_slice(&[0x90; 6]), None);
    // Bytes past the length do not count: equal exactly when the bytes are.
    assert_eq!(Insn::from_prefix([0x66, 0x90, 0x44, 0x00, 0x00], 2), NOP2);
    assert_eq!(Insn::from_prefix([0x66, 0x90, 0xff, 0xff, 0xff], 2), NOP2);
    assert_ne!(Insn::from_prefix([0x66, 0x90, 0, 0, 0], 5), NOP2);
    assert_ne!(b(&[0x0f, 0x1f]), NOP5);
    let one = Insn::from_prefix([0xcc, 1, 2, 3, 4], 1);
    assert_eq!(
        (one.as_bytes(), one.len(), one.first()),
        (&[0xcc][..], 1, 0xcc)
    );
    // Out-of-range lengths are clamped, not a panic.
    assert_eq!(Insn::from_prefix([0xcc, 1, 2, 3, 4], 0), one);
    assert_eq!(
        Insn::from_prefix([0xe9, 1, 2, 3, 4], 9),
        b(&[0xe9, 1, 2, 3, 4])
    );
}

#[test]
fn width_of_the_first_two_bytes() {
    assert_eq!(Width::of(0x66, 0x90), Some(Width::Short));
    for rel in [0x00, 0x7f, 0x80, 0xff] {
        assert_eq!(Width::of(0xeb, rel), Some(Width::Short), "eb {rel:02x}");
        assert_eq!(Width::of(0xe9, rel), Some(Width::Near), "e9 {rel:02x}");
    }
    assert_eq!(Width::of(0x0f, 0x1f), Some(Width::Near));
    for (first, second) in [
        (0x66, 0x91),
        (0x66, 0x0f),
        (0x0f, 0x1e),
        (0x0f, 0x90),
        (0x90, 0x90),
        (0xcc, 0x90),
        (0xcc, 0x1f),
        (0x00, 0x00),
    ] {
        assert_eq!(Width::of(first, second), None, "{first:02x} {second:02x}");
    }
}

#[test]
fn jmp8_round_trips_over_the_whole_rel8_range() {
    let site = 0xffff_ffff_a000_1000usize;
    let next = site + 2;
    for rel in -128isize..=127 {
        let target = next.wrapping_add_signed(rel);
        let insn = encode_jmp(site, target, Width::Short).unwrap();
        assert_eq!(insn.as_bytes(), [0xeb, rel as u8], "rel {rel}");
        assert_eq!(insn.width(), Some(Width::Short));
        assert_eq!(
            decode(site, &insn),
            Some(Decoded::Jmp { target }),
            "rel {rel}"
        );
        assert_eq!(resume_address(site, &insn), Some(target), "rel {rel}");
    }
}

#[test]
fn jmp8_range_limits() {
    let site = 0x1_0000_0000usize;
    let next = site + 2;
    assert_eq!(
        encode_jmp(site, next - 128, Width::Short),
        Some(b(&[0xeb, 0x80]))
    );
    assert_eq!(
        encode_jmp(site, next + 127, Width::Short),
        Some(b(&[0xeb, 0x7f]))
    );
    assert_eq!(encode_jmp(site, next - 129, Width::Short), None);
    assert_eq!(encode_jmp(site, next + 128, Width::Short), None);
    // The displacement counts from the end of the 2-byte instruction.
    assert_eq!(encode_jmp(site, next, Width::Short), Some(b(&[0xeb, 0x00])));
    assert_eq!(encode_jmp(site, site, Width::Short), Some(b(&[0xeb, 0xfe])));
    // A jump the near form reaches easily is out of the short one's range.
    assert!(encode_jmp(site, site + 0x100, Width::Near).is_some());
    assert_eq!(encode_jmp(site, site + 0x100, Width::Short), None);
    assert_eq!(encode_jmp(site, site - 0x100, Width::Short), None);
}

#[test]
fn jmp8_at_the_top_of_the_address_space() {
    let site = usize::MAX - 0x20;
    let insn = encode_jmp(site, site - 0x10, Width::Short).unwrap();
    assert_eq!(
        decode(site, &insn),
        Some(Decoded::Jmp {
            target: site - 0x10
        })
    );
    assert_eq!(
        encode_jmp(usize::MAX - 1, usize::MAX - 4, Width::Short),
        None
    );
}

#[test]
fn other_bytes_are_not_short_site_instructions() {
    for bytes in [
        &[0x66, 0x91][..],
        &[0x66][..],
        &[0xeb][..],
        &[0xe9, 0x00][..],
        &[0xeb, 0x00, 0x00][..],
        &[0xcc, 0x90][..],
        &[0x90, 0x90][..],
        // NOP2 padded to five bytes is no site instruction.
        &[0x66, 0x90, 0x00, 0x00, 0x00][..],
        &[0x0f, 0x1f][..],
    ] {
        assert_eq!(decode(0x1000, &b(bytes)), None, "{bytes:02x?}");
        assert_eq!(resume_address(0x1000, &b(bytes)), None, "{bytes:02x?}");
    }
}

#[test]
fn for_jump_selects_the_short_instruction() {
    assert_eq!(
        for_jump(0x3000, 0x3040, Width::Short, false, Form::Kernel),
        Some(NOP2)
    );
    assert_eq!(
        for_jump(0x3000, 0x3040, Width::Short, true, Form::Kernel),
        Some(b(&[0xeb, 0x3e]))
    );
    // Out of range: the NOP is still fine, the jump is not.
    assert_eq!(
        for_jump(0x3000, 0x3100, Width::Short, false, Form::Kernel),
        Some(NOP2)
    );
    assert_eq!(
        for_jump(0x3000, 0x3100, Width::Short, true, Form::Kernel),
        None
    );
}

// The tail-constant form: `test` with the jump's displacement.

#[test]
fn the_tail_constant_form_is_the_jump_with_test_for_its_opcode() {
    let (site, target) = (0xffff_ffff_c000_1000usize, 0xffff_ffff_c000_1234usize);
    let jmp = encode_jmp(site, target, Width::Near).unwrap();
    let test = encode_test(site, target, Width::Near).unwrap();
    assert_eq!(test.as_bytes(), &[0xa9, 0x2f, 0x02, 0x00, 0x00]);
    assert!(test.same_tail(&jmp));
    assert_eq!(decode(site, &test), Some(Decoded::Nop));
    assert_eq!(resume_address(site, &test), Some(site + 5));
    assert_eq!(
        for_jump(site, target, Width::Near, false, Form::TailConstant),
        Some(test)
    );
    assert_eq!(
        for_jump(site, target, Width::Near, true, Form::TailConstant),
        Some(jmp)
    );
    assert_eq!(Width::of(0xa9, 0x2f), Some(Width::Near));
    assert_eq!(Form::holding(0xa9), Form::TailConstant);
    assert_eq!(Form::holding(0xe9), Form::Kernel);
    assert_eq!(Form::holding(0x0f), Form::Kernel);

    let short_target = site + 2 - 3;
    let jmp8 = encode_jmp(site, short_target, Width::Short).unwrap();
    let test8 = encode_test(site, short_target, Width::Short).unwrap();
    assert_eq!(test8.as_bytes(), &[0xa8, 0xfd]);
    assert!(test8.same_tail(&jmp8));
    assert_eq!(decode(site, &test8), Some(Decoded::Nop));
    assert_eq!(Width::of(0xa8, 0xfd), Some(Width::Short));
    assert_eq!(Form::holding(0xa8), Form::TailConstant);
    // Out of range for the width: no jump, so no `test` either.
    assert_eq!(encode_test(site, site + 0x1000, Width::Short), None);
    // A `test` of the wrong length is no site instruction.
    assert_eq!(
        decode(site, &Insn::from_slice(&[0xa9, 1, 2]).unwrap()),
        None
    );
    assert_eq!(
        decode(site, &Insn::from_slice(&[0xa8, 1, 2, 3, 4]).unwrap()),
        None
    );
}
