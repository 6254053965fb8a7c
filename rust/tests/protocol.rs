// SPDX-License-Identifier: GPL-2.0

//! Simulation of the int3 protocol against CPUs that fetch branch sites
//! while a batch runs, and arbitrarily late after it.
//!
//! The real `run_batch`/`run_serial` drive a recording [`Text`]; the trace is
//! then replayed on a simulated machine one event at a time: the publish,
//! every single byte written, every sync, the retire. Between any two events
//! a CPU may fetch any site, and each byte it fetches may be any value that
//! location held since the last sync, stale or fresh: a sync is the only
//! point where every CPU is known to serialize. After the last event CPUs
//! may still fetch any of those values (a stale fetch can come arbitrarily
//! late), with no vector published. A fetch whose first byte is an int3
//! traps at that instant, and the real resolution (`trap::resolve`) runs on
//! the table of every site, the vector published at that instant and the
//! bytes the site holds then. Every fetch must run the site's old or new
//! instruction, or trap and be sent where the new one goes (or, with no
//! int3 left in the text, where the bytes there go); a trap the handler
//! cannot resolve is an "Oops: int3".
//!
//! The bytes are written the way the kernel writes them: through an alias
//! that maps the pages `pages_touched` names back to back, at the offsets
//! `alias_offset` gives; the generated sites include ones that cross a page
//! boundary. Sites are near (five bytes) or short (two), and the generated
//! scenarios run all-near ones and a mix of both. What an instruction does
//! is decoded by the oracle in `sim`, independently of `pure::insn`.
//!
//! Scenarios come from a seeded generator; a failure names its seed, and
//! `PROTOCOL_SEED=<seed> cargo test --test protocol` replays just that one.

mod protocol_model;
mod sim;

use batchpoke_pure::insn::{Form, Width};
use batchpoke_pure::pages::{pages_touched, PAGE_SIZE};
use batchpoke_pure::plan::{run_batch, Ending, Poke};
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;
use batchpoke_pure::trap::{self, TrapSite, Writers};

use protocol_model::{
    check_run, plan, run_seeds, simulate, simulate_on, Machine, Reached, Scenario, Spec,
};
use sim::{decode, Recorder, Step, INT3, LEN, NO_TAIL_REL, NO_TAIL_REL8, SHORT_LEN};

#[test]
fn the_oracle_decodes_literal_bytes() {
    let a = 0xffff_ffff_c000_1000usize;
    assert_eq!(decode(a, &[0x0f, 0x1f, 0x44, 0x00, 0x00]), Some(a + 5));
    assert_eq!(
        decode(a, &[0xe9, 0x1f, 0x44, 0x00, 0x00]),
        Some(a + 5 + 0x441f)
    );
    assert_eq!(decode(a, &[0xe9, 0xfb, 0xff, 0xff, 0xff]), Some(a));
    assert_eq!(decode(a, &[0xe9, 0, 0, 0, 0x80]), Some(a + 5 - (1 << 31)));
    assert_eq!(decode(a, &[0x0f, 0x1f, 0x44, 0x00, 0x01]), None);
    assert_eq!(decode(a, &[0xcc, 0x1f, 0x44, 0x00, 0x00]), None);
}

#[test]
fn the_oracle_decodes_short_literal_bytes() {
    let a = 0xffff_ffff_c000_1000usize;
    assert_eq!(decode(a, &[0x66, 0x90]), Some(a + 2));
    assert_eq!(decode(a, &[0xeb, 0x00]), Some(a + 2));
    assert_eq!(decode(a, &[0xeb, 0x7f]), Some(a + 2 + 127));
    assert_eq!(decode(a, &[0xeb, 0x80]), Some(a + 2 - 128));
    assert_eq!(decode(a, &[0xeb, 0xfe]), Some(a));
    assert_eq!(decode(a, &[0xeb, 0x90]), Some(a + 2 - 0x70));
    for b in [
        &[0x66, 0x91][..],
        &[0xcc, 0x90][..],
        &[0x66][..],
        &[0xeb][..],
        &[0xe9, 0x00][..],
        &[0x66, 0x90, 0x00, 0x00, 0x00][..],
        &[0xeb, 0x00, 0x00, 0x00, 0x00][..],
        &[0x0f, 0x1f][..],
    ] {
        assert_eq!(decode(a, b), None, "{b:02x?}");
    }
}

#[test]
fn every_fetch_runs_old_new_or_a_resolved_int3() {
    let Some(n) = run_seeds(false) else {
        return;
    };
    let Reached {
        crossing,
        one_round_batches,
        two_round_serial,
        mixed_batches,
        adjacent,
        ..
    } = n;
    // The generator really reaches the cases it is there for.
    assert!(crossing >= 400, "{crossing} changed page-crossing sites");
    assert!(
        one_round_batches >= 100,
        "{one_round_batches} 1-round batches"
    );
    assert!(
        two_round_serial >= 1000,
        "{two_round_serial} 2-round serial"
    );
    assert!(mixed_batches >= 200, "{mixed_batches} mixed batches");
    assert!(adjacent >= 800, "{adjacent} adjacent sites");
    assert!(n.test_form_flips >= 300, "{n:?}");
    assert!(n.conversions >= 180, "{n:?}");
    assert_eq!((n.short_crossing, n.adjacent_short), (0, 0));
}

#[test]
fn every_fetch_with_short_and_near_sites_runs_old_new_or_a_resolved_int3() {
    let Some(n) = run_seeds(true) else {
        return;
    };
    // The same cases as all-near, and the short sites among them.
    assert!(n.crossing >= 400, "{n:?}");
    assert!(n.short_crossing >= 200, "{n:?}");
    assert!(n.one_round_batches >= 100, "{n:?}");
    assert!(n.short_one_round_batches >= 100, "{n:?}");
    assert!(n.two_round_serial >= 1000, "{n:?}");
    assert!(n.mixed_batches >= 200, "{n:?}");
    assert!(n.mixed_width_batches >= 350, "{n:?}");
    assert!(n.short_no_tail >= 500, "{n:?}");
    assert!(n.adjacent >= 800, "{n:?}");
    assert!(n.adjacent_short >= 600, "{n:?}");
}

/// A near jump whose rel32 is 0x441f at `addr`, in the unlikely or likely
/// form.
fn no_tail_site(addr: usize, likely: bool) -> Site {
    Site {
        addr,
        target: addr + LEN + NO_TAIL_REL,
        likely,
        width: Width::Near,
        form: Form::Kernel,
    }
}

/// A short jump whose rel8 is 0x90 at `addr`, in the unlikely or likely
/// form.
fn short_no_tail_site(addr: usize, likely: bool) -> Site {
    Site {
        addr,
        target: (addr + SHORT_LEN).wrapping_add_signed(NO_TAIL_REL8),
        likely,
        width: Width::Short,
        form: Form::Kernel,
    }
}

#[test]
fn a_batch_that_changes_no_tail_takes_one_round_serial_two_per_site() {
    let base = 0xffff_ffff_c000_0000usize;
    // Adjacent sites, one across the page boundary, both forms, both ways.
    let addrs = [
        base + 0xff0,
        base + 0xff5,
        base + 0xffa,
        base + 0xfff,
        base + 0x1004,
    ];
    let specs: Vec<Spec> = addrs
        .iter()
        .enumerate()
        .map(|(i, &addr)| Spec {
            site: no_tail_site(addr, i % 2 == 1),
            from: i % 3 == 0,
            to: i % 3 != 0,
            to_form: Form::Kernel,
        })
        .collect();
    let sc = Scenario {
        base,
        pages: 2,
        specs,
        shuffle: 1,
    };
    for s in &sc.specs {
        let jmp = if s.jumps(s.from) { s.from } else { s.to };
        assert_eq!(s.bytes(jmp), [0xe9, 0x1f, 0x44, 0x00, 0x00]);
        assert!(!s.tail_changes());
    }
    assert!(sc.specs.iter().any(Spec::crosses_a_page));
    for serial in [false, true] {
        let run = simulate(&sc, serial, |_| {}).unwrap();
        check_run(&sc, serial, &run).unwrap();
        let want = if serial { 2 * addrs.len() } else { 1 };
        assert_eq!(run.rounds, want, "serial={serial}");
    }
}

/// Sites of every kind: tail changes and none, page-crossing, adjacent,
/// one that stays as it is.
fn mixed() -> Scenario {
    let base = 0xffff_ffff_c000_0000usize;
    let mut specs = Vec::new();
    // Pages 1 and 3 hold only the ends of the page-crossing sites 2 and 4.
    for (i, addr) in [0xff0, 0xff5, 0xffd, 0x2100, 0x2ffe, 0x4003, 0x4100]
        .into_iter()
        .enumerate()
    {
        let addr = base + addr;
        let site = if i % 3 == 1 {
            no_tail_site(addr, i % 2 == 1)
        } else {
            Site {
                addr,
                target: addr - 0x40 + i,
                likely: i % 2 == 1,
                width: Width::Near,
                form: Form::Kernel,
            }
        };
        specs.push(Spec {
            site,
            from: i % 4 == 0,
            to: i % 4 != 0 && i != 6,
            to_form: Form::Kernel,
        });
    }
    Scenario {
        base,
        pages: 5,
        specs,
        shuffle: 2,
    }
}

#[test]
fn page_crossing_sites_are_written_through_both_pages_of_the_alias() {
    let sc = mixed();
    let crossing: Vec<&Spec> = sc.specs.iter().filter(|s| s.crosses_a_page()).collect();
    assert_eq!(crossing.len(), 2);
    assert!(crossing.iter().all(|s| s.changes()));
    assert!(crossing.iter().any(|s| s.tail_changes()));
    let pokes = plan(&sc);
    let pages: Vec<usize> = pages_touched(&pokes).collect();
    let want: Vec<usize> = (0..5).map(|i| sc.base + i * PAGE_SIZE).collect();
    assert_eq!(pages, want);
    for serial in [false, true] {
        let run = simulate(&sc, serial, |_| {}).unwrap();
        check_run(&sc, serial, &run).unwrap();
    }
}

#[test]
fn a_batch_of_short_and_near_sites_that_changes_no_tail_takes_one_round() {
    let base = 0xffff_ffff_c000_0000usize;
    let (s, n) = (Width::Short, Width::Near);
    // Adjacent short and near sites, a short one across the page boundary,
    // both forms, both ways.
    let sites = [
        (0xff0, s),
        (0xff2, n),
        (0xff7, s),
        (0xff9, s),
        (0xffb, s),
        (0xffd, s),
        (0x1000 - 1, s),
        (0x1001, n),
        (0x1006, s),
    ];
    let specs: Vec<Spec> = sites
        .iter()
        .enumerate()
        .map(|(i, &(addr, width))| {
            let (addr, likely) = (base + addr, i % 2 == 1);
            Spec {
                site: match width {
                    Width::Short => short_no_tail_site(addr, likely),
                    Width::Near => no_tail_site(addr, likely),
                },
                from: i % 3 == 0,
                to: i % 3 != 0,
                to_form: Form::Kernel,
            }
        })
        .collect();
    let sc = Scenario {
        base,
        pages: 2,
        specs,
        shuffle: 3,
    };
    for s in &sc.specs {
        let jmp = if s.jumps(s.from) { s.from } else { s.to };
        match s.site.width {
            Width::Short => assert_eq!(s.bytes(jmp), [0xeb, 0x90]),
            Width::Near => assert_eq!(s.bytes(jmp), [0xe9, 0x1f, 0x44, 0x00, 0x00]),
        }
        assert!(!s.tail_changes());
    }
    assert!(sc
        .specs
        .iter()
        .any(|s| s.crosses_a_page() && s.site.width == Width::Short));
    for serial in [false, true] {
        let run = simulate(&sc, serial, |_| {}).unwrap();
        check_run(&sc, serial, &run).unwrap();
        let want = if serial { 2 * sites.len() } else { 1 };
        assert_eq!(run.rounds, want, "serial={serial}");
    }
}

/// Short sites of every kind, with (unless `only_short`) near ones between
/// them: tail changes and none, page-crossing, adjacent, one that stays as
/// it is. Page 3 holds only the end of a short page-crossing site (and a
/// site that does not change).
fn with_short(only_short: bool) -> Scenario {
    let base = 0xffff_ffff_c000_0000usize;
    let (s, n) = (Width::Short, Width::Near);
    let short = |addr: usize, target: usize, likely: bool| Site {
        addr: base + addr,
        target: base + target,
        likely,
        width: Width::Short,
        form: Form::Kernel,
    };
    let near = |addr: usize, target: usize, likely: bool| Site {
        width: Width::Near,
        form: Form::Kernel,
        ..short(addr, target, likely)
    };
    let sites = [
        (s, short(0xff0, 0xfb0, false), false, true),
        (n, no_tail_site(base + 0xff2, true), true, false),
        (s, short_no_tail_site(base + 0xff7, false), false, true),
        (s, short(0xff9, 0x1070, true), false, true),
        (s, short(0xffb, 0xffb, false), true, false),
        // Ends on the last byte of page 0.
        (s, short(0xffd, 0x1000, true), true, false),
        // Across the boundary of pages 0 and 1, no tail change.
        (s, short_no_tail_site(base + 0xfff, false), false, true),
        (n, near(0x1001, 0x800, true), false, true),
        (s, short(0x1006, 0x1006 + 2 + 127, false), false, true),
        (s, short(0x1008, 0x100a - 128, true), true, false),
        // Across the boundary of pages 2 and 3, tail changing.
        (s, short(0x2fff, 0x3020, true), true, false),
        (s, short(0x3001, 0x3020, false), true, true),
    ];
    let specs = sites
        .into_iter()
        .filter(|&(w, ..)| !only_short || w == Width::Short)
        .map(|(_, site, from, to)| Spec {
            site,
            from,
            to,
            to_form: Form::Kernel,
        })
        .collect();
    Scenario {
        base,
        pages: 4,
        specs,
        shuffle: 4,
    }
}

#[test]
fn short_sites_run_old_new_or_a_resolved_int3() {
    for only_short in [false, true] {
        let sc = with_short(only_short);
        let shorts = || sc.specs.iter().filter(|s| s.site.width == Width::Short);
        let crossing: Vec<&Spec> = shorts().filter(|s| s.crosses_a_page()).collect();
        assert_eq!(crossing.len(), 2);
        assert!(crossing.iter().all(|s| s.changes()));
        assert!(crossing.iter().any(|s| s.tail_changes()));
        assert!(crossing.iter().any(|s| !s.tail_changes()));
        assert!(shorts().any(|s| !s.changes()));
        let pokes = plan(&sc);
        assert!(pokes.iter().any(|p| p.len() == 2));
        let pages: Vec<usize> = pages_touched(&pokes).collect();
        let want: Vec<usize> = (0..4).map(|i| sc.base + i * PAGE_SIZE).collect();
        assert_eq!(pages, want, "only_short={only_short}");
        for serial in [false, true] {
            let run = simulate(&sc, serial, |_| {})
                .unwrap_or_else(|e| panic!("only_short={only_short}, serial={serial}: {e}"));
            check_run(&sc, serial, &run).unwrap();
        }
    }
}

#[test]
fn broken_traces_of_short_sites_are_caught() {
    // Only short sites: whatever the checker catches, it catches there.
    let sc = with_short(true);
    let e = broken_in(&sc, false, |st| {
        st.remove(nth_sync(st, 0));
    });
    assert!(e.contains("neither the old"), "{e}");
    let e = broken_in(&sc, false, |st| {
        st.remove(nth_sync(st, 1));
    });
    assert!(e.contains("neither the old"), "{e}");
    let e = broken_in(&sc, false, |st| st.retain(|s| !is_int3(s)));
    assert!(e.contains("neither the old"), "{e}");
    let e = broken_in(&sc, false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(position(st, is_int3) + 1, p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    let e = broken_in(&sc, false, |st| {
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                for p in v.iter_mut() {
                    let spec = sc.specs.iter().find(|s| s.addr() == p.addr).unwrap();
                    p.resume = spec.dest(spec.from);
                }
            }
        }
    });
    assert!(e.contains("the handler resumes"), "{e}");
    // Without the table a late int3 at a short site is an oops.
    let e = match simulate_on(&sc, false, |_| {}, |m| m.table.clear()) {
        Ok(_) => panic!("a batch without the handler's table passed"),
        Err(e) => e,
    };
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    // A table of near sites at the short sites' addresses resolves none of
    // their bytes.
    let e = match simulate_on(
        &sc,
        false,
        |_| {},
        |m| {
            for t in m.table.iter_mut() {
                let s = m.specs.iter().find(|s| find(&[*t], s.addr()).is_some());
                let site = s.unwrap().site;
                *t = TrapSite::new(&Site {
                    width: Width::Near,
                    form: Form::Kernel,
                    ..site
                })
                .unwrap();
            }
        },
    ) {
        Ok(_) => panic!("a table of the wrong width passed"),
        Err(e) => e,
    };
    assert!(e.contains("Oops: int3"), "{e}");
}

#[test]
fn an_alias_missing_the_page_of_a_short_sites_last_byte_is_caught() {
    let sc = with_short(true);
    let pokes = plan(&sc);
    let mut m = Machine::new(&sc, &pokes);
    // Page 3 holds only the last byte of the short site at 0x2fff.
    assert_eq!(m.alias.remove(3), sc.base + 3 * PAGE_SIZE);
    let mut r = Recorder::default();
    run_batch(&pokes, &mut r, Ending::Unsynced);
    let e = m.replay(&r.steps).unwrap_err();
    assert!(e.contains("on no page of the alias"), "{e}");
}

// The checker itself: traces with a known flaw must be caught.

fn broken(serial: bool, edit: impl FnOnce(&mut Vec<Step>)) -> String {
    broken_in(&mixed(), serial, edit)
}

fn broken_in(sc: &Scenario, serial: bool, edit: impl FnOnce(&mut Vec<Step>)) -> String {
    // The unbroken trace passes, so what fails below is the edit.
    check_run(sc, serial, &simulate(sc, serial, |_| {}).unwrap()).unwrap();
    match simulate(sc, serial, edit) {
        Ok(_) => panic!("a broken trace passed"),
        Err(e) => e,
    }
}

fn position(steps: &[Step], what: impl Fn(&Step) -> bool) -> usize {
    steps.iter().position(what).expect("step in the trace")
}

fn nth_sync(steps: &[Step], n: usize) -> usize {
    let (i, _) = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Sync))
        .nth(n)
        .expect("sync in the trace");
    i
}

fn is_publish(s: &Step) -> bool {
    matches!(s, Step::Publish(_))
}

fn is_int3(s: &Step) -> bool {
    matches!(s, Step::Write(_, b) if b == &[INT3])
}

#[test]
fn publishing_after_the_int3_writes_is_an_oops() {
    let e = broken(false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(nth_sync(st, 0), p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    // Even after a single int3 only.
    let e = broken(false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(position(st, is_int3) + 1, p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
}

#[test]
fn publishing_after_the_first_sync_is_an_oops() {
    let e = broken(false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(nth_sync(st, 0) + 1, p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
}

#[test]
fn retiring_before_the_first_bytes_are_written_is_an_oops() {
    for serial in [false, true] {
        // The first batch retires right after its int3 sync, with int3s
        // still in the text.
        let e = broken(serial, |st| {
            let retire = st.remove(position(st, |s| matches!(s, Step::Retire)));
            st.insert(nth_sync(st, 0) + 1, retire);
        });
        assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    }
}

#[test]
fn never_retiring_is_caught() {
    let e = broken(false, |st| st.retain(|s| !matches!(s, Step::Retire)));
    assert!(e.contains("still published"), "{e}");
}

#[test]
fn skipping_the_int3_sync_tears_instructions() {
    let e = broken(false, |st| {
        st.remove(nth_sync(st, 0));
    });
    assert!(e.contains("neither the old"), "{e}");
}

#[test]
fn skipping_the_tail_sync_tears_instructions() {
    let e = broken(false, |st| {
        st.remove(nth_sync(st, 1));
    });
    assert!(e.contains("neither the old"), "{e}");
}

#[test]
fn without_the_table_a_late_int3_is_an_oops() {
    // What the third round protects against, with two rounds and no table.
    let sc = mixed();
    let e = match simulate_on(&sc, false, |_| {}, |m| m.table.clear()) {
        Ok(_) => panic!("a batch without the handler's table passed"),
        Err(e) => e,
    };
    // Caught at the retire or later, when only the table could help.
    let late = e.contains("(retire)") || e.contains("late fetch");
    assert!(
        e.contains("Oops: int3") && e.contains("no vector") && late,
        "{e}"
    );
    // With the kernel's final sync, no table is needed.
    let run = simulate_on(&sc, true, |_| {}, |m| m.table.clear()).unwrap();
    check_run(&sc, true, &run).unwrap();
}

/// A batch of `sc` on a machine whose handler table is built by `entry`
/// for every site.
fn with_table(
    sc: &Scenario,
    entry: impl Fn(&Spec) -> TrapSite,
) -> Result<protocol_model::Run, String> {
    simulate_on(
        sc,
        false,
        |_| {},
        |m| {
            m.table = m.specs.iter().map(&entry).collect();
            trap::sort(&mut m.table);
        },
    )
}

#[test]
fn a_table_built_for_other_targets_is_caught() {
    // The table's jumps are not the ones in the text: a late int3 at a
    // jump site is not resolved (the bytes are neither of the table's
    // instructions for the site).
    let sc = mixed();
    let e = match with_table(&sc, |s| {
        let mut site = s.site;
        site.target += 0x10;
        TrapSite::new(&site).unwrap()
    }) {
        Ok(_) => panic!("a wrong table passed"),
        Err(e) => e,
    };
    assert!(
        e.contains("Oops: int3") && e.contains("site holds [e9"),
        "{e}"
    );
}

/// `mixed()` with every site converted from the kernel's form to the
/// tail-constant one, its key's state kept, as registration does.
fn converting() -> Scenario {
    let mut sc = mixed();
    for s in &mut sc.specs {
        s.to = s.from;
        s.to_form = Form::TailConstant;
    }
    sc
}

#[test]
fn a_conversion_takes_two_rounds_and_every_fetch_runs_old_new_or_a_resolved_int3() {
    let sc = converting();
    let run = simulate(&sc, false, |_| {}).unwrap();
    check_run(&sc, false, &run).unwrap();
    // Only sites that fall through change: NOP to `test`, tails included.
    assert!(run.pokes.iter().all(|p| p.tail_changes()));
    assert!(run.pokes.len() < sc.specs.len());
    assert_eq!(run.rounds, 2);
}

#[test]
fn a_table_of_one_form_misses_a_late_trap_after_a_conversion() {
    // The handler's table must resolve a site in either form: registration
    // converts sites that are in it already. Built as for a site the
    // kernel writes too (the kernel's form only), a late int3 after the
    // conversion meets `test` bytes it does not know.
    let sc = converting();
    let e = match with_table(&sc, |s| {
        TrapSite::written_by(&s.site, Writers::BatchpokeAndKernel).unwrap()
    }) {
        Ok(_) => panic!("a table of one form passed"),
        Err(e) => e,
    };
    assert!(
        e.contains("Oops: int3") && e.contains("site holds [a9"),
        "{e}"
    );
}

#[test]
fn writing_without_an_int3_tears_instructions() {
    let e = broken(false, |st| st.retain(|s| !is_int3(s)));
    assert!(e.contains("neither the old"), "{e}");
}

#[test]
fn a_handler_that_emulates_the_old_instruction_is_caught() {
    let sc = mixed();
    let e = broken(false, |st| {
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                for p in v.iter_mut() {
                    let spec = sc.specs.iter().find(|s| s.addr() == p.addr).unwrap();
                    p.resume = spec.dest(spec.from);
                }
            }
        }
    });
    assert!(e.contains("the handler resumes"), "{e}");
}

#[test]
fn a_trap_on_a_site_of_another_batch_is_an_oops() {
    // Serial: each batch publishes the vector of the next site.
    let e = broken(true, |st| {
        let mut vectors: Vec<Vec<Poke>> = Vec::new();
        for s in st.iter() {
            if let Step::Publish(v) = s {
                vectors.push(v.clone());
            }
        }
        vectors.rotate_left(1);
        let mut next = vectors.into_iter();
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                *v = next.next().unwrap();
            }
        }
    });
    assert!(e.contains("not in the published vector"), "{e}");
}

#[test]
fn an_alias_missing_a_page_is_caught() {
    let sc = mixed();
    let pokes = plan(&sc);
    let mut m = Machine::new(&sc, &pokes);
    // The page only the end of the first page-crossing site is on.
    assert_eq!(m.alias.remove(1), sc.base + PAGE_SIZE);
    let mut r = Recorder::default();
    run_batch(&pokes, &mut r, Ending::Unsynced);
    let e = m.replay(&r.steps).unwrap_err();
    assert!(e.contains("on no page of the alias"), "{e}");
}

#[test]
fn a_stray_write_is_caught() {
    let e = broken(false, |st| {
        let i = nth_sync(st, 1);
        st.insert(i, Step::Write(0xffff_ffff_c000_0800, vec![0x90]));
    });
    assert!(e.contains("stray write"), "{e}");
}
