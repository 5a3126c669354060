//! Load generation: a closed loop (each of N workers sends its next request when the last is
//! answered) to find the peak, and a paced open loop to measure latency at a chosen rate. Paced
//! latency counts from when a request was due, not when it was sent, so a stall is not hidden.
use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ok: usize,
    pub failed: usize,
    pub elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        (self.ok + self.failed) as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0–1) of latency, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies_us, q)
    }
}

pub fn quantile_ms(latencies_us: &[u64], q: f64) -> f64 {
    if latencies_us.is_empty() {
        return f64::NAN;
    }
    let mut sorted = latencies_us.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Runs `job` over every item with `concurrency` workers; `job` says whether the answer was the
/// expected one.
pub async fn closed_loop<T, F, Fut>(concurrency: usize, items: Vec<T>, job: F) -> Stats
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let items: Arc<Vec<Arc<T>>> = Arc::new(items.into_iter().map(Arc::new).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (items, next, job) = (items.clone(), next.clone(), job.clone());
            tokio::spawn(async move {
                let mut stats = Stats::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let sent = Instant::now();
                    let ok = job(item.clone()).await;
                    stats.latencies_us.push(sent.elapsed().as_micros() as u64);
                    if ok {
                        stats.ok += 1;
                    } else {
                        stats.failed += 1;
                    }
                }
                stats
            })
        })
        .collect();
    let mut total = Stats::default();
    for worker in workers {
        let stats = worker.await.expect("a load worker");
        total.ok += stats.ok;
        total.failed += stats.failed;
        total.latencies_us.extend(stats.latencies_us);
    }
    total.elapsed = started.elapsed();
    total
}

/// Sends one request per item at `rate` per second, whatever the answers take.
pub async fn paced<T, F, Fut>(rate: f64, items: Vec<T>, job: F) -> Stats
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let job = Arc::new(job);
    let collected = Arc::new(Mutex::new(Stats::default()));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (job, collected) = (job.clone(), collected.clone());
        tasks.push(tokio::spawn(async move {
            let ok = job(Arc::new(item)).await;
            let latency = due.elapsed().as_micros() as u64;
            let mut stats = collected.lock().unwrap();
            stats.latencies_us.push(latency);
            if ok {
                stats.ok += 1;
            } else {
                stats.failed += 1;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a paced request");
    }
    let mut stats = collected.lock().unwrap().clone();
    stats.elapsed = started.elapsed();
    stats
}

/// Samples a process's RSS every 50 ms until dropped; `peak_kib` is the highest seen.
pub struct RssSampler {
    peak: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                seen.fetch_max(crate::process::rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssSampler { peak, task }
    }

    pub fn peak_kib(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}
