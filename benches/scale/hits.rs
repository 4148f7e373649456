//! Hits: requests as a server holds them, timed hits, every token of a store hot, and the
//! machine's cost of a trip to memory, measured in turn.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use tollgate::{CredentialParser, MemoryStore, Verifier};

use crate::support::{self, fill, median};

pub(crate) fn bearer(i: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, support::bearer(i));
    headers
}

/// The `Authorization` values of a run of requests, as a server holds them: each a slice of
/// one buffer (hyper's parser makes header values with `Bytes::slice` of what it read), in
/// the order they are sent. Reading them is sequential, as parsing a buffer just read is, so
/// the memory a hit waits on is the verifier's own. A `HeaderMap` allocated per request up
/// front and visited in shuffled order (this bench before) puts several trips to memory of
/// the bench's own into every request once there are a million of them.
pub(crate) struct Requests {
    buffer: Bytes,
    width: usize,
}

impl Requests {
    pub(crate) fn new(ids: &[u64]) -> Self {
        let mut buffer = Vec::new();
        let mut width = 0;
        for &i in ids {
            let value = format!("Bearer {}", support::token(i).1);
            width = value.len();
            buffer.extend_from_slice(value.as_bytes());
        }
        assert_eq!(buffer.len(), width * ids.len(), "tokens of one width");
        Self {
            buffer: buffer.into(),
            width,
        }
    }

    fn len(&self) -> usize {
        self.buffer.len().checked_div(self.width).unwrap_or(0)
    }

    /// Each request's `Authorization` value, in order.
    fn values(&self) -> impl Iterator<Item = HeaderValue> + '_ {
        self.window(0, self.len())
    }

    /// `count` values from the `start`th on, going round to the first after the last.
    fn window(&self, start: usize, count: usize) -> impl Iterator<Item = HeaderValue> + '_ {
        (start..start + count).map(|k| {
            let k = k % self.len();
            let value = self.buffer.slice(k * self.width..(k + 1) * self.width);
            HeaderValue::from_maybe_shared(value).expect("a header value")
        })
    }

    /// Verifies each request once, cache misses included: fills the caches.
    pub(crate) async fn warm(&self, verifier: &Verifier) {
        let parser = CredentialParser::default();
        let mut headers = HeaderMap::new();
        for value in self.values() {
            headers.insert(AUTHORIZATION, value);
            verifier
                .verify(&parser.parse(&headers).unwrap().unwrap())
                .await
                .unwrap();
        }
    }
}

/// A pointer chase along one cycle through a shuffled array of 256 MiB (Sattolo's
/// algorithm): each load's address is the previous load's value, so each waits on memory,
/// TLB misses included. What one trip to memory costs on this machine, the floor a hit on a
/// cache entry that is not in the CPU's caches pays per trip.
pub(crate) struct Chase {
    next: Vec<usize>,
    at: usize,
}

impl Chase {
    pub(crate) fn new() -> Self {
        const SLOTS: usize = (256 << 20) / std::mem::size_of::<usize>();
        let mut next: Vec<usize> = (0..SLOTS).collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in (1..SLOTS).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // j < i: every slot points to another, and the whole array is one cycle.
            next.swap(i, (state % i as u64) as usize);
        }
        Self { next, at: 0 }
    }

    /// Nanoseconds per load over `loads` dependent loads.
    fn ns_per_load(&mut self, loads: usize) -> f64 {
        let started = Instant::now();
        for _ in 0..loads {
            self.at = self.next[self.at];
        }
        std::hint::black_box(self.at);
        started.elapsed().as_nanos() as f64 / loads as f64
    }
}

/// Median ns per verification (the header's parse included) over `batches` passes over
/// `requests`.
pub(crate) fn hits(verifier: &Verifier, requests: &Requests, batches: usize) -> f64 {
    let samples = (0..batches).map(|_| time_hits(verifier, requests.values(), requests.len()));
    median(samples.collect())
}

/// ns per verification of `count` requests, each a hit.
pub(crate) fn time_hits(verifier: &Verifier, values: impl Iterator<Item = HeaderValue>, count: usize) -> f64 {
    let parser = CredentialParser::default();
    let mut headers = HeaderMap::new();
    let started = Instant::now();
    for value in values {
        headers.insert(AUTHORIZATION, value);
        let credential = parser.parse(&headers).unwrap().unwrap();
        // A hit decides without waiting: the future is ready on its first poll.
        let principal = verifier.verify(&credential).now_or_never().unwrap().unwrap();
        std::hint::black_box(principal);
    }
    started.elapsed().as_nanos() as f64 / count as f64
}

/// Runs hits over `requests`, uncounted, for a second at least. Warmed with three passes
/// (9 ms of hits at 10,000 tokens), the first row of a run read more than the same row
/// later (every token hot at 10,000, three times in one run: 485 ns, then 286 and 282 ns).
pub(crate) fn warm_up(verifier: &Verifier, requests: &Requests) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        hits(verifier, requests, 1);
    }
}

/// [`hits`] as this bench measured them before: a `HeaderMap` per request, visited in
/// shuffled order, so that its input is as cold as the cache entries.
pub(crate) fn hits_from_header_maps(verifier: &Verifier, headers: &[HeaderMap], batches: usize) -> f64 {
    let parser = CredentialParser::default();
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        for h in headers {
            let credential = parser.parse(h).unwrap().unwrap();
            let principal = verifier.verify(&credential).now_or_never().unwrap().unwrap();
            std::hint::black_box(principal);
        }
        samples.push(started.elapsed().as_nanos() as f64 / headers.len() as f64);
    }
    median(samples)
}

/// Every token of a store of `tokens` hot: a cache sized for all of them, warmed, and the
/// requests for all of them in shuffled order. The store plays no part once warm.
pub(crate) struct HotSet {
    pub(crate) tokens: u64,
    verifier: Verifier,
    requests: Requests,
    /// Where [`interleaved`] goes on from.
    next: usize,
    /// Median ns per hit as this bench measured it before: a `HeaderMap` per request.
    pub(crate) before_ns: f64,
}

pub(crate) fn hot_set(rt: &tokio::runtime::Runtime, n: u64) -> HotSet {
    let store = Arc::new(MemoryStore::new());
    rt.block_on(fill(&*store, n));
    let verifier = Verifier::builder(store)
        .cache_capacity(n + n / 10)
        .cache_ttl(Duration::from_secs(3600))
        .build();
    let mut ids: Vec<u64> = (0..n).collect();
    shuffle(&mut ids);
    let requests = Requests::new(&ids);
    rt.block_on(requests.warm(&verifier));
    verifier.run_pending_tasks();
    warm_up(&verifier, &requests);
    // Allocated in id order, then visited in the same shuffled order as `ids`.
    let mut headers: Vec<HeaderMap> = (0..n).map(bearer).collect();
    shuffle(&mut headers);
    let before_ns = hits_from_header_maps(&verifier, &headers, (3_000_000 / n).clamp(3, 30) as usize);
    HotSet {
        tokens: n,
        verifier,
        requests,
        next: 0,
        before_ns,
    }
}

/// What [`interleaved`] measured: medians over its rounds.
pub(crate) struct Interleaved {
    /// ns per hit, per set.
    pub(crate) hit_ns: Vec<f64>,
    /// Each set's hit over the first set's, paired within a round.
    pub(crate) ratio: Vec<f64>,
    /// Each set's hit less the first set's, in trips to memory of the same round.
    pub(crate) extra_trips: Vec<f64>,
    /// ns per dependent load.
    pub(crate) load_ns: f64,
}

/// Hits on every set and the pointer chase in turn, [`ROUNDS`] times, 200,000 of each per
/// round (each set's requests walked round, on from where the last round stopped): the
/// machine's speed drifts, and what drifts within a round cancels out of its ratios.
pub(crate) fn interleaved(sets: &mut [HotSet], chase: &mut Chase) -> Interleaved {
    const ROUNDS: usize = 15;
    const PER_ROUND: usize = 200_000;
    let mut hit_ns = vec![Vec::new(); sets.len()];
    let mut ratio = vec![Vec::new(); sets.len()];
    let mut extra_trips = vec![Vec::new(); sets.len()];
    let mut load_ns = Vec::new();
    for _ in 0..ROUNDS {
        let load = chase.ns_per_load(PER_ROUND);
        load_ns.push(load);
        let round: Vec<f64> = sets
            .iter_mut()
            .map(|set| {
                let ns = time_hits(&set.verifier, set.requests.window(set.next, PER_ROUND), PER_ROUND);
                set.next = (set.next + PER_ROUND) % set.requests.len();
                ns
            })
            .collect();
        for (k, ns) in round.iter().enumerate() {
            hit_ns[k].push(*ns);
            ratio[k].push(ns / round[0]);
            extra_trips[k].push((ns - round[0]) / load);
        }
    }
    Interleaved {
        hit_ns: hit_ns.into_iter().map(median).collect(),
        ratio: ratio.into_iter().map(median).collect(),
        extra_trips: extra_trips.into_iter().map(median).collect(),
        load_ns: median(load_ns),
    }
}

pub(crate) fn shuffle<T>(items: &mut [T]) {
    // A fixed xorshift: the same order every run.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}
