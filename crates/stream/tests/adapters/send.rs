//! Every adapter is `Send` when its inputs are, `Debug`, and the handles are
//! `Send + Sync + Clone`.

use std::num::NonZeroU32;
use std::time::Duration;

use weir_stream::{Rate, ShedStats, Watermarks, WeirStreamExt};

use crate::support::nz;

fn is_send<T: Send>(_: &T) {}
fn is_debug<T: std::fmt::Debug>(t: &T) -> String {
    format!("{t:?}")
}
fn is_handle<T: Send + Sync + Clone + 'static>() {}

#[test]
fn adapters_are_send_and_debug() {
    let s = || futures::stream::iter(0..3u32);
    macro_rules! check {
        ($($e:expr),* $(,)?) => {$({
            let a = $e;
            is_send(&a);
            assert!(!is_debug(&a).is_empty());
        })*};
    }
    check!(
        s().bounded(nz(2)),
        s().drop_newest(nz(2)),
        s().drop_oldest(nz(2)),
        s().latest(),
        s().sample(0.5),
        s().shed_watermark(Watermarks::new(2, 1).unwrap()),
        s().par_map(nz(2), |x| async move { x }),
        s().par_map_unordered(nz(2), |x| async move { x }),
        s().throttle(Rate::per_second(NonZeroU32::new(1).unwrap()), nz(1)),
        s().batch(nz(2), Duration::from_secs(1)),
        s().until_cancelled(tokio_util::sync::CancellationToken::new()),
    );
    is_handle::<ShedStats>();
    is_handle::<weir_stream::BoundedStats>();
}
