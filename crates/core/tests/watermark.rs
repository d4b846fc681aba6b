//! The watermark gate: hysteresis, counters, concurrent observers.

use std::sync::Arc;

use weir_core::Watermark;

#[test]
fn sheds_from_high_until_low() {
    let gate = Watermark::new(10, 5).unwrap();
    let depths = [0, 9, 10, 11, 9, 6, 5, 6, 9, 10, 4];
    let admitted: Vec<bool> = depths.iter().map(|&d| gate.admit_at(d)).collect();
    assert_eq!(
        admitted,
        [
            true, true, false, false, false, false, true, true, true, false, true
        ]
    );
    let snap = gate.snapshot();
    assert_eq!(
        (snap.admitted, snap.shed, snap.episodes, snap.shedding),
        (6, 5, 2, false)
    );
}

#[test]
fn hovering_around_one_mark_does_not_flap() {
    let gate = Watermark::new(100, 50).unwrap();
    for depth in (0..1000).map(|i| 99 + i % 2) {
        gate.observe(depth);
    }
    assert_eq!(gate.snapshot().episodes, 1);
    assert!(gate.is_shedding());
}

#[test]
fn observe_without_admit_counts_nothing() {
    let gate = Watermark::new(2, 0).unwrap();
    assert!(gate.observe(5));
    assert_eq!((gate.snapshot().admitted, gate.snapshot().shed), (0, 0));
}

#[test]
fn every_mark_pair_is_validated() {
    assert!(Watermark::new(1, 0).is_ok());
    let err = Watermark::new(0, 0).unwrap_err();
    assert_eq!(err.to_string(), "invalid low = 0: expected below high");
}

#[test]
fn concurrent_admits_are_all_counted() {
    let gate = Arc::new(Watermark::new(8, 2).unwrap());
    let per = if cfg!(miri) { 50 } else { 10_000 };
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let gate = gate.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    gate.admit_at((i * (t + 1)) % 12);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let snap = gate.snapshot();
    assert_eq!(snap.admitted + snap.shed, 4 * per as u64);
    assert!(snap.episodes >= 1);
}
