//! Paired measurement for the benches: every repetition runs each contender back to
//! back (in a rotating order) and takes its ratio to the baseline within the
//! repetition; the report gives the quartiles of those ratios. criterion's
//! sequential runs swing by ±20 % or more on a shared VM as the host's CPU steal
//! comes and goes; paired ratios do not.
//!
//! Where Linux's `/proc/self/task/*/schedstat` can be read, it also reports the
//! CPU time each contender's operations took, summed over every thread of the
//! process, paired the same way: what an operation costs the machine, apart from
//! how well its threads kept the cores busy (which wall time mixes in).
//!
//! Each ratio's median is also given apart ("halves") for the repetitions in
//! which the baseline ran faster than its own median and for the others: on a
//! shared host a contender's speed can depend on whether the cores were free,
//! and a ratio that differs between the halves says so.

use std::time::Instant;

/// `values[q]` of the sorted values.
pub(crate) fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The CPU time every thread of this process has run, in ns, if Linux's
/// per-thread schedstat can be read. Threads that have exited are not counted,
/// so the runtimes measured must outlive the measurement (the benches' do).
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for thread in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(thread.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// One run of a contender: wall ns per operation (what the closure returns) and,
/// where it can be read, CPU ns per operation.
fn measure(contender: &mut dyn FnMut() -> f64) -> (f64, Option<f64>) {
    let cpu_before = process_cpu_ns();
    let start = Instant::now();
    let wall_per_op = contender();
    let wall = start.elapsed().as_nanos() as f64;
    let cpu = cpu_before.zip(process_cpu_ns()).map(|(before, after)| {
        let ops = wall / wall_per_op;
        (after - before) as f64 / ops
    });
    (wall_per_op, cpu)
}

/// Each contender against the baseline (the first), paired per repetition: wall
/// time, and CPU time where it can be read.
pub(crate) fn paired(group: &str, reps: usize, contenders: &mut [(&str, &mut dyn FnMut() -> f64)]) {
    let n = contenders.len();
    let (mut wall_ratios, mut cpu_ratios) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    let (mut base_wall, mut base_cpu) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for rep in 0..reps {
        let mut runs = vec![(0.0, None); n];
        for i in 0..n {
            let i = (i + rep) % n;
            runs[i] = measure(contenders[i].1);
        }
        let (wall, cpu) = runs[0];
        base_wall.push(wall);
        base_cpu.extend(cpu);
        for (i, (run_wall, run_cpu)) in runs.into_iter().enumerate() {
            wall_ratios[i].push(run_wall / wall);
            if let (Some(run_cpu), Some(cpu)) = (run_cpu, cpu) {
                cpu_ratios[i].push(run_cpu / cpu);
            }
        }
    }
    // Which repetitions the baseline ran faster than its median in, before
    // `quantile` sorts its times.
    let base_median = quantile(&mut base_wall.clone(), 0.5);
    let fast: Vec<bool> = base_wall.iter().map(|&wall| wall <= base_median).collect();
    let cpu_note = if base_cpu.is_empty() {
        String::new()
    } else {
        format!(", {:.2} CPU ns/op", quantile(&mut base_cpu, 0.5))
    };
    println!(
        "{group}: baseline {} median {base_median:.2} ns/op{cpu_note}; ratios p25 / p50 / p75 over {reps} paired repetitions; p50 in the repetitions the baseline ran faster / slower than its median",
        contenders[0].0,
    );
    let by_rep = wall_ratios.clone();
    let quartiles = |ratios: &mut Vec<f64>| [0.25, 0.5, 0.75].map(|q| quantile(ratios, q));
    for (i, (name, _)) in contenders.iter().enumerate().skip(1) {
        let [p25, p50, p75] = quartiles(&mut wall_ratios[i]);
        let cpu = if cpu_ratios[i].len() == reps {
            let [c25, c50, c75] = quartiles(&mut cpu_ratios[i]);
            format!("   CPU {c25:.2} / {c50:.2} / {c75:.2}")
        } else {
            String::new()
        };
        // The ratios in rep order (`quartiles` sorted `wall_ratios[i]`).
        let (mut in_fast, mut in_slow) = (Vec::new(), Vec::new());
        for (rep, ratio) in by_rep[i].iter().enumerate() {
            let half = if fast[rep] {
                &mut in_fast
            } else {
                &mut in_slow
            };
            half.push(*ratio);
        }
        let halves = match (in_fast.is_empty(), in_slow.is_empty()) {
            (false, false) => format!(
                "   halves {:.2} / {:.2}",
                quantile(&mut in_fast, 0.5),
                quantile(&mut in_slow, 0.5)
            ),
            _ => String::new(),
        };
        println!("  {name:<42} {p25:.2} / {p50:.2} / {p75:.2}{cpu}{halves}");
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
