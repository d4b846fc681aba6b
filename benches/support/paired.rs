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
//! which the host ran faster than usual and for the others, as the contenders
//! outside the ratio measured it: on a shared host a contender's speed can
//! depend on whether the cores were free, and a ratio that differs between the
//! halves says so. (Splitting by the baseline's own time would not do: its own
//! swings alone would make the ratio look worse in its fast half.)

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
    let mut walls = vec![Vec::with_capacity(reps); n];
    let mut base_cpu = Vec::with_capacity(reps);
    for rep in 0..reps {
        let mut runs = vec![(0.0, None); n];
        for i in 0..n {
            let i = (i + rep) % n;
            runs[i] = measure(contenders[i].1);
        }
        let (wall, cpu) = runs[0];
        base_cpu.extend(cpu);
        for (i, (run_wall, run_cpu)) in runs.into_iter().enumerate() {
            walls[i].push(run_wall);
            wall_ratios[i].push(run_wall / wall);
            if let (Some(run_cpu), Some(cpu)) = (run_cpu, cpu) {
                cpu_ratios[i].push(run_cpu / cpu);
            }
        }
    }
    let cpu_note = if base_cpu.is_empty() {
        String::new()
    } else {
        format!(", {:.2} CPU ns/op", quantile(&mut base_cpu, 0.5))
    };
    let medians: Vec<f64> = walls
        .iter()
        .map(|times| quantile(&mut times.clone(), 0.5))
        .collect();
    println!(
        "{group}: baseline {} median {:.2} ns/op{cpu_note}; ratios p25 / p50 / p75 over {reps} paired repetitions",
        contenders[0].0, medians[0]
    );
    for (i, (name, _)) in contenders.iter().enumerate().skip(1) {
        let halves = halves(&walls, &medians, i, &wall_ratios[i]);
        let [p25, p50, p75] = quartiles(&mut wall_ratios[i]);
        let cpu = if cpu_ratios[i].len() == reps {
            let [c25, c50, c75] = quartiles(&mut cpu_ratios[i]);
            format!("   CPU {c25:.2} / {c50:.2} / {c75:.2}")
        } else {
            String::new()
        };
        let halves = halves.map_or(String::new(), |(fast, slow)| {
            format!("   halves {fast:.2} / {slow:.2}")
        });
        println!("  {name:<42} {p25:.2} / {p50:.2} / {p75:.2}{cpu}{halves}");
    }
}

fn quartiles(values: &mut [f64]) -> [f64; 3] {
    [0.25, 0.5, 0.75].map(|q| quantile(values, q))
}

/// The median of contender `i`'s `ratios` (in repetition order) in the
/// repetitions in which the host ran faster than usual, and in the others, if
/// there are contenders to tell by: how fast the host ran in a repetition is
/// read off the contenders other than `i` and the baseline (each one's time
/// against its own median in `medians`, the median of those), so that the
/// pair's own swings do not pick the halves.
fn halves(walls: &[Vec<f64>], medians: &[f64], i: usize, ratios: &[f64]) -> Option<(f64, f64)> {
    let others: Vec<usize> = (1..walls.len()).filter(|&j| j != i).collect();
    if others.is_empty() {
        return None;
    }
    let pace: Vec<f64> = (0..ratios.len())
        .map(|rep| {
            let mut relative: Vec<f64> =
                others.iter().map(|&j| walls[j][rep] / medians[j]).collect();
            quantile(&mut relative, 0.5)
        })
        .collect();
    let usual = quantile(&mut pace.clone(), 0.5);
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for (ratio, pace) in ratios.iter().zip(pace) {
        let half = if pace <= usual { &mut fast } else { &mut slow };
        half.push(*ratio);
    }
    if fast.is_empty() || slow.is_empty() {
        return None;
    }
    Some((quantile(&mut fast, 0.5), quantile(&mut slow, 0.5)))
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
