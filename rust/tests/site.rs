// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::insn::{Form, Width};
use batchpoke_pure::site::Site;

fn site(addr: usize, target: usize, width: Width) -> Site {
    Site {
        addr,
        target,
        likely: false,
        width,
        form: Form::Kernel,
    }
}

/// Every instruction the site holds in either state and either form.
fn instructions(s: &Site) -> Vec<Option<batchpoke_pure::insn::Insn>> {
    [Form::Kernel, Form::TailConstant]
        .into_iter()
        .flat_map(|form| [false, true].map(|enabled| s.in_form(form).insn(enabled)))
        .collect()
}

#[test]
fn a_short_site_reaches_exactly_the_rel8_range() {
    let addr = 0xffff_ffff_c000_1000usize;
    let next = addr + 2;
    for target in [next - 128, next, next + 127] {
        let s = site(addr, target, Width::Short);
        assert!(s.reaches_target(), "{target:#x}");
        assert!(instructions(&s).iter().all(Option::is_some));
    }
    for target in [next - 129, next + 128, next + 200, addr + 0x1000] {
        let s = site(addr, target, Width::Short);
        assert!(!s.reaches_target(), "{target:#x}");
        // It would fall through as the kernel's NOP, but could never jump.
        assert!(s.insn(false).is_some());
        assert_eq!(s.insn(true), None);
        assert_eq!(s.in_form(Form::TailConstant).insn(false), None);
    }
}

#[test]
fn a_near_site_reaches_the_rel32_range() {
    let addr = 0x1_0000_1000usize;
    let next = addr + 5;
    for target in [next - 0x8000_0000, next + 200, next + 0x7fff_ffff] {
        let s = site(addr, target, Width::Near);
        assert!(s.reaches_target(), "{target:#x}");
        assert!(instructions(&s).iter().all(Option::is_some));
    }
    for target in [next - 0x8000_0001, next + 0x8000_0000] {
        assert!(
            !site(addr, target, Width::Near).reaches_target(),
            "{target:#x}"
        );
    }
}

#[test]
fn a_likely_site_that_does_not_reach_cannot_fall_through_either_way() {
    // Likely: it jumps while its key is disabled. Its state today may be
    // encodable (enabled: the NOP) while the other is not.
    let addr = 0x1000;
    let s = Site {
        likely: true,
        ..site(addr, addr + 0x400, Width::Short)
    };
    assert!(!s.reaches_target());
    assert!(s.insn(true).is_some());
    assert_eq!(s.insn(false), None);
}
