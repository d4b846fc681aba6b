//! The main job: a scripted ~20 s overload of a weir pool fed by a shedding stream,
//! with a live terminal dashboard and an SVG chart of the whole run at the end.
//!
//! ```text
//! source (offered load follows the script)
//!   └─ shed_watermark(high 400, low 100)   sheds incoming items from depth 400 until 100
//!        └─ pool.submit(job)                waits while the pool's queue (32) is full
//!             └─ pool: ceiling 8 (budget), each job 10 ms  → capacity ≈ 800 jobs/s
//! ```
//!
//! The script: calm at 0.5× capacity, a ramp to 3×, a hold, then the pool loses half
//! its capacity (the ceiling drops 8 → 4) while load falls back to 0.9× of the
//! original, then the ceiling returns and the load recovers to 0.5×.
//!
//! What to look for (the dashboard while it runs; `overload.svg` afterwards):
//! the pool's queue fills and backpressure reaches the stream; the stream's buffer
//! climbs to the **high** watermark, shedding switches on, the buffer drains to the
//! **low** watermark and shedding switches off (a sawtooth, never flapping per
//! item); in-flight work stays pinned at the ceiling, following it down and up; and
//! the wait of admitted items stays bounded by the buffer, however high the load.
//!
//! Run: `cargo run --release --example overload` (writes `overload.svg` in the
//! current directory). Options: `--seconds N` stretches or shrinks the script to N
//! seconds (default 20), `--svg PATH` picks the output file. When stdout is not a
//! terminal it prints one line per second instead of redrawing. It exits non-zero
//! if the run does not show the story above.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use weir::pool::Pool;
use weir::prelude::WeirStreamExt;
use weir::stream::{DropReason, Watermarks};

const CEILING: usize = 8;
const DROPPED_CEILING: usize = 4;
const JOB: Duration = Duration::from_millis(10);
const POOL_QUEUE: usize = 32;
const HIGH: usize = 400;
const LOW: usize = 100;
/// Nominal capacity in jobs per second: ceiling / job time.
const CAPACITY: f64 = CEILING as f64 / 0.010;
const SAMPLE: Duration = Duration::from_millis(50);

/// One phase of the script, on a 0..1 timeline.
struct Phase {
    name: &'static str,
    start: f64,
    end: f64,
    /// Offered load as a multiple of the nominal capacity, at `start` and `end`.
    load: (f64, f64),
    ceiling: usize,
}

const SCRIPT: [Phase; 5] = [
    Phase {
        name: "calm (0.5x)",
        start: 0.0,
        end: 0.15,
        load: (0.5, 0.5),
        ceiling: CEILING,
    },
    Phase {
        name: "ramp to 3x",
        start: 0.15,
        end: 0.40,
        load: (0.5, 3.0),
        ceiling: CEILING,
    },
    Phase {
        name: "hold 3x",
        start: 0.40,
        end: 0.55,
        load: (3.0, 3.0),
        ceiling: CEILING,
    },
    Phase {
        name: "capacity drop",
        start: 0.55,
        end: 0.75,
        load: (0.9, 0.9),
        ceiling: DROPPED_CEILING,
    },
    Phase {
        name: "recovery",
        start: 0.75,
        end: 1.0,
        load: (0.9, 0.5),
        ceiling: CEILING,
    },
];

fn phase_at(x: f64) -> &'static Phase {
    SCRIPT
        .iter()
        .find(|p| x < p.end)
        .unwrap_or(&SCRIPT[SCRIPT.len() - 1])
}

/// Offered load (items per second) at script position `x` in 0..1.
fn offered_at(x: f64) -> f64 {
    let p = phase_at(x);
    let f = ((x - p.start) / (p.end - p.start)).clamp(0.0, 1.0);
    CAPACITY * (p.load.0 + (p.load.1 - p.load.0) * f)
}

/// One dashboard sample.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    t: f64,
    offered: f64,
    done: f64,
    ceiling: usize,
    in_flight: usize,
    pool_queue: u64,
    buffer: usize,
    shedding: bool,
    shed_rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

fn parse_args() -> (f64, String) {
    let mut seconds = 20.0;
    let mut svg = "overload.svg".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| *s >= 2.0)
                    .expect("--seconds takes a number >= 2");
            }
            "--svg" => svg = args.next().expect("--svg takes a path"),
            other => panic!("unknown argument {other:?} (try --seconds N, --svg PATH)"),
        }
    }
    (seconds, svg)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (seconds, svg_path) = parse_args();
    let total = Duration::from_secs_f64(seconds);

    let pool = Pool::builder()
        .workers(CEILING)
        .budget(CEILING)
        .queue_capacity(POOL_QUEUE)
        .build()
        .expect("valid pool");

    // Admitted items' waits (creation → job start), drained by the sampler.
    let waits = Arc::new(Mutex::new(Vec::<f64>::new()));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));

    // The source: items are their creation instants, offered at the script's rate.
    let start = Instant::now();
    let source = futures::stream::unfold(
        (0u64, 0.0f64, start),
        move |(made, mut due, mut last)| async move {
            loop {
                let now = Instant::now();
                if now - start >= total {
                    return None;
                }
                let x = (now - start).as_secs_f64() / total.as_secs_f64();
                due += offered_at(x) * (now - last).as_secs_f64();
                last = now;
                if (made as f64) < due {
                    return Some((now, (made + 1, due, last)));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        },
    );
    let stream = source.shed_watermark(Watermarks::new(HIGH, LOW).expect("low < high"));
    let shed = stream.stats();

    // The consumer: every admitted item becomes a pool job; `submit` waits while the
    // pool's queue is full, which is the backpressure the stream's buffer absorbs.
    let consumer = {
        let pool = pool.clone();
        let (waits, done) = (waits.clone(), done.clone());
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(created) = stream.next().await {
                let (waits, done) = (waits.clone(), done.clone());
                let job = async move {
                    let wait = created.elapsed().as_secs_f64() * 1e3;
                    waits.lock().expect("not poisoned").push(wait);
                    tokio::time::sleep(JOB).await; // the work
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                };
                if pool.submit(job).await.is_err() {
                    break;
                }
            }
        })
    };

    // The script driver and the sampler share one loop.
    let tty = std::io::stdout().is_terminal();
    let mut samples: Vec<Sample> = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_t, mut last_received, mut last_dropped, mut last_done) = (0.0, 0u64, 0u64, 0u64);
    let mut last_print = -1.0;
    if tty {
        print!("\x1b[?25l\x1b[2J"); // hide the cursor, clear the screen
    }
    loop {
        tick.tick().await;
        let t = start.elapsed().as_secs_f64();
        let x = (t / total.as_secs_f64()).min(1.0);
        let phase = phase_at(x);
        if pool.stats().budget != phase.ceiling {
            pool.set_budget(phase.ceiling).expect("valid budget");
        }
        let stats = pool.stats();
        let snap = shed.snapshot();
        let d = done.load(std::sync::atomic::Ordering::Relaxed);
        let dt = (t - last_t).max(1e-3);
        let mut w = std::mem::take(&mut *waits.lock().expect("not poisoned"));
        w.sort_by(f64::total_cmp);
        let s = Sample {
            t,
            offered: (snap.received() - last_received) as f64 / dt,
            done: (d - last_done) as f64 / dt,
            ceiling: stats.budget,
            in_flight: stats.in_flight_weight,
            pool_queue: stats.queued,
            buffer: snap.occupancy(),
            shedding: snap.is_shedding(),
            shed_rate: (snap.dropped() - last_dropped) as f64 / dt,
            p50_ms: percentile(&w, 0.50),
            p99_ms: percentile(&w, 0.99),
        };
        (last_t, last_received, last_dropped, last_done) = (t, snap.received(), snap.dropped(), d);
        samples.push(s);
        if tty {
            draw(&s, x, phase.name, &snap, d);
        } else if t - last_print >= 1.0 {
            last_print = t;
            println!(
                "t={t:5.1}s {:<14} offered {:5.0}/s ceiling {} in-flight {} queue {:2}/{POOL_QUEUE} buffer {:3}/{HIGH} {} shed {:5.0}/s wait p50 {:4.0} ms p99 {:4.0} ms",
                phase.name,
                s.offered,
                s.ceiling,
                s.in_flight,
                s.pool_queue,
                s.buffer,
                if s.shedding { "SHEDDING" } else { "        " },
                s.shed_rate,
                s.p50_ms,
                s.p99_ms
            );
        }
        if t >= total.as_secs_f64() {
            break;
        }
    }
    if tty {
        print!("\x1b[?25h"); // show the cursor again
    }

    // The source has ended: the consumer drains the buffer into the pool, then the
    // pool drains; nothing admitted is lost.
    consumer.await.expect("consumer");
    let report = pool.close(Instant::now() + Duration::from_secs(10)).await;
    let snap = shed.snapshot();
    println!();
    println!(
        "offered {} · shed {} ({:.0}%) · admitted {} · completed {} · never started {}",
        snap.received(),
        snap.dropped_by(DropReason::AboveWatermark),
        100.0 * snap.dropped() as f64 / snap.received().max(1) as f64,
        snap.emitted(),
        report.stats.completed,
        report.never_started
    );

    std::fs::write(&svg_path, svg(&samples, total.as_secs_f64())).expect("write the SVG");
    println!("chart written to {svg_path}");

    let failures = check_story(&samples, &snap, &report);
    if failures.is_empty() {
        println!(
            "story holds: queue filled, shedding switched on at {HIGH} and off at {LOW}, in-flight held the ceiling"
        );
    } else {
        for f in &failures {
            eprintln!("story check failed: {f}");
        }
        std::process::exit(1);
    }
}

/// The checks that make this a demonstration rather than a screensaver.
fn check_story(
    samples: &[Sample],
    snap: &weir::stream::ShedSnapshot,
    report: &weir::pool::CloseReport,
) -> Vec<String> {
    let mut failures = Vec::new();
    if snap.max_occupancy() != HIGH {
        failures.push(format!(
            "the buffer peaked at {}, not the high watermark {HIGH}",
            snap.max_occupancy()
        ));
    }
    if snap.dropped() == 0 {
        failures.push("nothing was shed".into());
    }
    // Shedding switched off at least once after switching on (hysteresis), and
    // every sample that sheds has a buffer between the marks.
    let episodes = samples
        .windows(2)
        .filter(|w| w[0].shedding && !w[1].shedding)
        .count();
    if episodes == 0 {
        failures.push("shedding never switched off during the run".into());
    }
    if let Some(s) = samples.iter().find(|s| s.shedding && s.buffer < LOW) {
        failures.push(format!(
            "shedding at t={:.2}s with the buffer at {} (< low {LOW})",
            s.t, s.buffer
        ));
    }
    // While the pool's queue is full, in-flight sits at the ceiling.
    let saturated: Vec<_> = samples
        .iter()
        .filter(|s| s.pool_queue >= POOL_QUEUE as u64)
        .collect();
    let pinned = saturated
        .iter()
        .filter(|s| s.in_flight >= s.ceiling)
        .count();
    if saturated.is_empty() || (pinned as f64) < 0.9 * saturated.len() as f64 {
        failures.push(format!(
            "in-flight at the ceiling in only {pinned} of {} saturated samples",
            saturated.len()
        ));
    }
    if samples.iter().any(|s| s.in_flight > CEILING) {
        failures.push("in-flight exceeded the largest ceiling".into());
    }
    if report.never_started != 0 || report.stats.completed != snap.emitted() {
        failures.push(format!(
            "admitted {} but completed {} (never started {})",
            snap.emitted(),
            report.stats.completed,
            report.never_started
        ));
    }
    failures
}

fn bar(value: f64, max: f64, width: usize) -> String {
    let filled = ((value / max).clamp(0.0, 1.0) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "·".repeat(width - filled))
}

fn draw(s: &Sample, x: f64, phase: &str, snap: &weir::stream::ShedSnapshot, done: u64) {
    let mut out = String::new();
    let ms = |v: f64| {
        if v.is_nan() {
            "   -".to_owned()
        } else {
            format!("{v:4.0}")
        }
    };
    let _ = writeln!(
        out,
        "\x1b[H\x1b[1mweir overload\x1b[0m — a pool (ceiling {CEILING}, 10 ms jobs ≈ {CAPACITY:.0}/s) fed by a shedding stream\x1b[K"
    );
    let _ = writeln!(out, "\x1b[K");
    let _ = writeln!(
        out,
        "scenario  [{}] {:3.0}%  {phase:<14} t = {:5.1} s\x1b[K",
        bar(x, 1.0, 40),
        x * 100.0,
        s.t
    );
    let _ = writeln!(out, "\x1b[K");
    let _ = writeln!(
        out,
        "offered   {:6.0}/s  {}\x1b[K",
        s.offered,
        bar(s.offered, 3.2 * CAPACITY, 40)
    );
    let _ = writeln!(
        out,
        "completed {:6.0}/s  {}\x1b[K",
        s.done,
        bar(s.done, 3.2 * CAPACITY, 40)
    );
    let _ = writeln!(
        out,
        "ceiling   {:6}    {}\x1b[K",
        s.ceiling,
        bar(s.ceiling as f64, CEILING as f64, 16)
    );
    let _ = writeln!(
        out,
        "in-flight {:6}    {}\x1b[K",
        s.in_flight,
        bar(s.in_flight as f64, CEILING as f64, 16)
    );
    let _ = writeln!(
        out,
        "pool queue{:6}/{POOL_QUEUE} {}\x1b[K",
        s.pool_queue,
        bar(s.pool_queue as f64, POOL_QUEUE as f64, 16)
    );
    let state = if s.shedding {
        "\x1b[31;1mSHEDDING\x1b[0m"
    } else {
        "\x1b[32maccepting\x1b[0m"
    };
    let _ = writeln!(
        out,
        "buffer    {:6}/{HIGH} {}  {state} (on at {HIGH}, off at {LOW})\x1b[K",
        s.buffer,
        bar(s.buffer as f64, HIGH as f64, 40)
    );
    let _ = writeln!(
        out,
        "shed rate {:6.0}/s  {}\x1b[K",
        s.shed_rate,
        bar(s.shed_rate, 3.2 * CAPACITY, 40)
    );
    let _ = writeln!(
        out,
        "wait      p50 {} ms   p99 {} ms   (item made → job started)\x1b[K",
        ms(s.p50_ms),
        ms(s.p99_ms)
    );
    let _ = writeln!(out, "\x1b[K");
    let _ = writeln!(
        out,
        "totals    offered {} · shed {} · admitted {} · completed {}\x1b[K",
        snap.received(),
        snap.dropped(),
        snap.emitted(),
        done
    );
    print!("{out}");
    let _ = std::io::stdout().flush();
}

// ===== the SVG chart =====

const W: f64 = 1000.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const PANEL_H: f64 = 120.0;
const GAP: f64 = 34.0;
const TOP: f64 = 70.0;

/// (label, colour, value per sample, drawn as a step line)
type Series<'a> = (&'a str, &'a str, Box<dyn Fn(&Sample) -> f64 + 'a>, bool);

struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    max: f64,
    series: Vec<Series<'a>>,
    /// (label, value): dashed horizontal reference lines
    marks: Vec<(&'a str, f64)>,
    shade_shedding: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn svg(samples: &[Sample], total: f64) -> String {
    let peak = |f: &dyn Fn(&Sample) -> f64| {
        samples
            .iter()
            .map(f)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    };
    let rate_max = nice(peak(&|s| s.offered.max(s.done).max(s.shed_rate)).max(CAPACITY));
    let wait_max = nice(peak(&|s| s.p99_ms).max(10.0));
    let panels = [
        Panel {
            title: "Load",
            unit: "items/s",
            max: rate_max,
            series: vec![
                ("offered", "#6b7280", Box::new(|s| s.offered), false),
                ("completed", "#2563eb", Box::new(|s| s.done), false),
                ("shed", "#dc2626", Box::new(|s| s.shed_rate), false),
            ],
            marks: vec![("capacity (ceiling 8)", CAPACITY)],
            shade_shedding: false,
        },
        Panel {
            title: "Pool: ceiling and in-flight",
            unit: "jobs",
            max: (CEILING + 2) as f64,
            series: vec![
                ("ceiling", "#111827", Box::new(|s| s.ceiling as f64), true),
                (
                    "in-flight",
                    "#16a34a",
                    Box::new(|s| s.in_flight as f64),
                    false,
                ),
            ],
            marks: vec![],
            shade_shedding: false,
        },
        Panel {
            title: "Pool queue: accepted, not started (backpressure on the stream)",
            unit: "jobs",
            max: (POOL_QUEUE + CEILING + 8) as f64,
            series: vec![(
                "queued",
                "#9333ea",
                Box::new(|s| s.pool_queue as f64),
                false,
            )],
            marks: vec![("queue capacity", POOL_QUEUE as f64)],
            shade_shedding: false,
        },
        Panel {
            title: "Stream buffer and shedding (red: shedding on)",
            unit: "items",
            max: (HIGH + 50) as f64,
            series: vec![("buffered", "#ea580c", Box::new(|s| s.buffer as f64), false)],
            marks: vec![
                ("high watermark", HIGH as f64),
                ("low watermark", LOW as f64),
            ],
            shade_shedding: true,
        },
        Panel {
            title: "Wait of admitted items (made → started)",
            unit: "ms",
            max: wait_max,
            series: vec![
                ("p50", "#0891b2", Box::new(|s| s.p50_ms), false),
                ("p99", "#be123c", Box::new(|s| s.p99_ms), false),
            ],
            marks: vec![],
            shade_shedding: false,
        },
    ];
    let h = TOP + panels.len() as f64 * (PANEL_H + GAP) + 30.0;
    let pw = W - LEFT - RIGHT;
    let xs = |t: f64| LEFT + (t / total).clamp(0.0, 1.0) * pw;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r##"<rect width="{W}" height="{h}" fill="#ffffff"/>"##);
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="24" font-size="17" font-weight="bold" fill="#111827">weir: a pool fed by a shedding stream, overloaded on a script</text>"##
    );
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="44" fill="#374151">ceiling {CEILING} (drops to {DROPPED_CEILING}), 10 ms jobs, pool queue {POOL_QUEUE}, shed_watermark(high {HIGH}, low {LOW}); sampled every {} ms</text>"##,
        SAMPLE.as_millis()
    );
    for (i, p) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL_H + GAP) + 16.0;
        let ys = |v: f64| y0 + PANEL_H - (v / p.max).clamp(0.0, 1.0) * PANEL_H;
        // Phase bands and names.
        for (k, ph) in SCRIPT.iter().enumerate() {
            let (a, b) = (xs(ph.start * total), xs(ph.end * total));
            if k % 2 == 1 {
                let _ = writeln!(
                    o,
                    r##"<rect x="{a:.1}" y="{y0:.1}" width="{:.1}" height="{PANEL_H}" fill="#f3f4f6"/>"##,
                    b - a
                );
            }
            if i == 0 {
                let _ = writeln!(
                    o,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#6b7280" font-size="11">{}</text>"##,
                    (a + b) / 2.0,
                    y0 - 4.0,
                    esc(ph.name)
                );
            }
        }
        if p.shade_shedding {
            for s in samples
                .iter()
                .zip(samples.iter().skip(1))
                .filter(|(a, _)| a.shedding)
            {
                let (a, b) = (xs(s.0.t), xs(s.1.t));
                let _ = writeln!(
                    o,
                    r##"<rect x="{a:.1}" y="{y0:.1}" width="{:.2}" height="{PANEL_H}" fill="#fecaca"/>"##,
                    (b - a).max(0.5)
                );
            }
        }
        // Frame, title, axis labels.
        let _ = writeln!(
            o,
            r##"<rect x="{LEFT}" y="{y0:.1}" width="{pw}" height="{PANEL_H}" fill="none" stroke="#9ca3af"/>"##
        );
        let title_y = if i == 0 { y0 - 18.0 } else { y0 - 6.0 };
        let _ = writeln!(
            o,
            r##"<text x="{LEFT}" y="{title_y:.1}" font-weight="bold" fill="#111827">{}</text>"##,
            esc(p.title)
        );
        for frac in [0.0, 0.5, 1.0] {
            let v = p.max * frac;
            let _ = writeln!(
                o,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#6b7280" font-size="10">{}</text>"##,
                LEFT - 6.0,
                ys(v) + 3.0,
                fmt_num(v)
            );
        }
        let _ = writeln!(
            o,
            r##"<text x="14" y="{:.1}" fill="#6b7280" font-size="10" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"##,
            y0 + PANEL_H / 2.0,
            y0 + PANEL_H / 2.0,
            esc(p.unit)
        );
        for (label, v) in &p.marks {
            let y = ys(*v);
            let _ = writeln!(
                o,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#374151" stroke-dasharray="5 4"/>"##,
                LEFT + pw
            );
            let _ = writeln!(
                o,
                r##"<text x="{:.1}" y="{:.1}" fill="#374151" font-size="10">{}</text>"##,
                LEFT + pw + 6.0,
                y + 3.0,
                esc(label)
            );
        }
        // Series.
        for (k, (label, colour, f, step)) in p.series.iter().enumerate() {
            let mut d = String::new();
            let mut pen_up = true;
            let mut prev_y = 0.0;
            for s in samples {
                let v = f(s);
                if !v.is_finite() {
                    pen_up = true;
                    continue;
                }
                let (x, y) = (xs(s.t), ys(v));
                if pen_up {
                    let _ = write!(d, "M{x:.1},{y:.1}");
                    pen_up = false;
                } else if *step {
                    let _ = write!(d, " L{x:.1},{prev_y:.1} L{x:.1},{y:.1}");
                } else {
                    let _ = write!(d, " L{x:.1},{y:.1}");
                }
                prev_y = y;
            }
            let width = if *step { 2.5 } else { 1.6 };
            let _ = writeln!(
                o,
                r##"<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"/>"##
            );
            let lx = LEFT + pw + 6.0;
            // Below the reference-line labels it would collide with.
            let mut ly = y0 + 14.0 + k as f64 * 16.0;
            while p
                .marks
                .iter()
                .any(|(_, v)| (ys(*v) + 3.0 - ly).abs() < 13.0)
            {
                ly += 14.0;
            }
            let _ = writeln!(
                o,
                r##"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/>"##,
                ly - 4.0,
                lx + 16.0,
                ly - 4.0
            );
            let _ = writeln!(
                o,
                r##"<text x="{:.1}" y="{ly:.1}" fill="#111827" font-size="11">{}</text>"##,
                lx + 20.0,
                esc(label)
            );
        }
    }
    // Time axis.
    let yb = TOP + panels.len() as f64 * (PANEL_H + GAP) - GAP + 16.0 + 14.0;
    let step = if total > 30.0 {
        5.0
    } else if total > 8.0 {
        2.0
    } else {
        1.0
    };
    let mut t = 0.0;
    while t <= total + 1e-9 {
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{yb:.1}" text-anchor="middle" fill="#6b7280" font-size="10">{t:.0} s</text>"##,
            xs(t)
        );
        t += step;
    }
    o.push_str("</svg>\n");
    o
}

/// Rounds up to 1, 2 or 5 times a power of ten.
fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn fmt_num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}
