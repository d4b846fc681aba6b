//! Auto-trait contract: what can cross threads and what is `Unpin`.

use weir_pool::{
    Builder, Close, CloseReport, ConfigError, JobContext, JobError, JobHandle, Panic, Pool, Stats,
    SubmitError, TrySubmitError,
};

fn send_sync<T: Send + Sync>() {}
fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send<T: Send>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Pool>();
    send_sync::<Builder>();
    send_sync_unpin::<JobHandle<u8>>();
    send_sync_unpin::<JobHandle<std::cell::Cell<u8>>>(); // `T: Send` is enough
    send_sync::<JobContext>();
    send_sync::<JobError>();
    send_sync::<Panic>();
    send_sync::<CloseReport>();
    send_sync::<Stats>();
    send_sync::<ConfigError>();
    send_sync::<SubmitError<u8>>();
    send_sync::<TrySubmitError<u8>>();
    send::<Close>();
    fn error_box(e: JobError) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(e)
    }
    let _ = error_box;
}

#[test]
fn submit_futures_are_send() {
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_send(pool.submit(async {}));
    assert_send(pool.submit_timeout(async {}, std::time::Duration::from_secs(1)));
    let token = tokio_util::sync::CancellationToken::new();
    assert_send(pool.submit_cancellable(async {}, &token));
}

/// Boxed `dyn Future` jobs submitted from inside `tokio::spawn`, in every waiting
/// form. As `async fn`s these failed to compile ("implementation of `Send` is not
/// general enough"): rustc re-proved the futures' `Send` at the spawn with a
/// higher-ranked lifetime. This test is the compile check, and it runs the jobs.
#[tokio::test]
async fn boxed_dyn_jobs_submit_from_spawned_tasks() {
    use std::{future::Future, pin::Pin, time::Duration};
    use tokio_util::sync::CancellationToken;

    type BoxJob = Pin<Box<dyn Future<Output = u64> + Send>>;
    fn job(n: u64) -> BoxJob {
        Box::pin(async move { n })
    }

    let pool = Pool::builder().workers(2).build().unwrap();
    let submitter = pool.clone();
    let sum = tokio::spawn(async move {
        let token = CancellationToken::new();
        let p = &submitter;
        let handles = [
            p.submit(job(1)).await.unwrap(),
            p.submit_timeout(job(2), Duration::from_secs(60))
                .await
                .unwrap(),
            p.submit_cancellable(job(3), &token).await.unwrap(),
            p.submit_for("a", job(4)).await.unwrap(),
            p.submit_for_timeout("b", job(5), Duration::from_secs(60))
                .await
                .unwrap(),
            p.submit_for_cancellable("c", job(6), &token).await.unwrap(),
        ];
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    });
    assert_eq!(sum.await.unwrap(), 21);
}

/// A handle is two words on 64-bit targets (its job's cell, its id): callers keep many of them, and
/// a million outstanding handles take 16 MB, not the 32 MB they took with the pool
/// and the key slot in the handle itself.
#[test]
fn job_handle_is_two_words() {
    assert!(size_of::<JobHandle<u64>>() <= 16);
    assert!(size_of::<JobHandle<[u8; 1024]>>() <= 16);
}
