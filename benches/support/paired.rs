//! Paired measurement for the benches: every repetition runs each contender back to
//! back (in a rotating order) and takes its ratio to the baseline within the
//! repetition; the report gives the quartiles of those ratios. criterion's
//! sequential runs swing by ±20 % or more on a shared VM as the host's CPU steal
//! comes and goes; paired ratios do not.

/// `values[q]` of the sorted values.
pub(crate) fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Each contender against the baseline (the first), paired per repetition.
pub(crate) fn paired(group: &str, reps: usize, contenders: &mut [(&str, &mut dyn FnMut() -> f64)]) {
    let mut ratios = vec![Vec::with_capacity(reps); contenders.len()];
    let mut base = Vec::with_capacity(reps);
    for rep in 0..reps {
        let mut ns = vec![0.0; contenders.len()];
        for i in 0..contenders.len() {
            let i = (i + rep) % contenders.len();
            ns[i] = (contenders[i].1)();
        }
        base.push(ns[0]);
        for (ratios, ns) in ratios.iter_mut().zip(&ns) {
            ratios.push(ns / base[rep]);
        }
    }
    println!(
        "{group}: baseline {} median {:.2} ns/op; ratios p25 / p50 / p75 over {reps} paired repetitions",
        contenders[0].0,
        quantile(&mut base, 0.5)
    );
    for ((name, _), ratios) in contenders.iter().zip(&mut ratios).skip(1) {
        let [p25, p50, p75] = [0.25, 0.5, 0.75].map(|q| quantile(ratios, q));
        println!("  {name:<42} {p25:.2} / {p50:.2} / {p75:.2}");
    }
}

/// A bench's `main`: the paired runs under `PAIRED=1`, criterion's otherwise.
pub(crate) fn main(criterion_benches: fn(), paired_runs: fn()) {
    if std::env::var_os("PAIRED").is_some() {
        paired_runs();
        return;
    }
    criterion_benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
