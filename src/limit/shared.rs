//! Rate limits shared by a fleet, in Redis: GCRA in one Lua script per limit, on Redis's
//! own clock (`TIME`), so replicas' clocks never disagree about a limit. A request under a
//! token limit and an owner limit sends both scripts in one pipeline: one round trip. Each
//! script touches one key, so a Redis Cluster may keep the two on different shards; the
//! price is that a request one limit refuses is given back to the other by a second call.
//!
//! While Redis fails or is slower than the timeout, requests are decided by the local
//! buckets (or refused, as the operator chose); one warning per outage, one counter per
//! request so decided, and Redis is tried again after [`RETRY_MS`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::gcra::Quota;
use super::limiter::WhenUnavailable;
use super::limits::{Checked, Held, Limits};
use crate::metrics::FallbackCounter;
use crate::store::StoreError;
use crate::verify::coarse_ms;

/// After a failure, how long requests are decided without asking Redis.
const RETRY_MS: u64 = 1_000;

/// GCRA for one key. `ARGV`: the interval in microseconds, the burst, and `take` or `give`
/// (give back a slot taken by a request the other limit refused). Returns
/// `{allowed, remaining, wait in microseconds}`. The key expires when its bucket is full
/// again, so Redis keeps only the limits in use.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
if ARGV[3] == 'give' then
  tat = tat - interval
  if tat > now then
    redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
  else
    redis.call('DEL', KEYS[1])
  end
  return {1, 0, 0}
end
local nxt = math.max(tat, now) + interval
local ahead = nxt - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil(ahead / 1000))
return {1, math.floor((tolerance - ahead) / interval), math.max(0, ahead + interval - tolerance)}
";

/// Redis could not decide a request: it failed, was too slow, or failed a moment ago.
#[derive(Debug)]
pub(crate) struct Outage;

/// The settings, before the first connection.
pub(crate) struct SharedBuilder {
    url: String,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) when_unavailable: WhenUnavailable,
}

impl SharedBuilder {
    pub(crate) fn new(url: String) -> Self {
        Self {
            url,
            prefix: "tollgate:ratelimit:".to_owned(),
            timeout: Duration::from_millis(100),
            when_unavailable: WhenUnavailable::Local,
        }
    }

    pub(crate) fn check(&self) -> Result<(), StoreError> {
        redis::Client::open(self.url.as_str())
            .map(drop)
            .map_err(|err| StoreError::Config(format!("rate limits: not a Redis URL: {err}")))
    }
}

impl fmt::Debug for SharedBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: not shown.
        f.debug_struct("RedisLimits")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("when_unavailable", &self.when_unavailable)
            .finish_non_exhaustive()
    }
}

/// Limits in Redis, connected on first use.
pub(crate) struct Shared {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    when_unavailable: WhenUnavailable,
    script: redis::Script,
    /// Until when (coarse clock, ms) Redis is not asked, after a failure.
    down_until_ms: AtomicU64,
    /// Whether the current outage was logged.
    in_outage: AtomicBool,
    fallbacks: FallbackCounter,
}

impl Shared {
    pub(crate) fn new(builder: SharedBuilder) -> Self {
        let client = redis::Client::open(builder.url.as_str()).expect("checked by the builder");
        Self {
            client,
            conn: OnceCell::new(),
            prefix: builder.prefix,
            timeout: builder.timeout,
            when_unavailable: builder.when_unavailable,
            script: redis::Script::new(SCRIPT),
            down_until_ms: AtomicU64::new(0),
            in_outage: AtomicBool::new(false),
            fallbacks: FallbackCounter::register(),
        }
    }

    /// Counts the requests decided locally during an outage.
    pub(crate) fn fallbacks(&self) -> &FallbackCounter {
        &self.fallbacks
    }

    pub(crate) fn when_unavailable(&self) -> WhenUnavailable {
        self.when_unavailable
    }

    fn key(&self, held: &Held) -> String {
        format!("{}{}:{}", self.prefix, held.scope.policy(), held.key)
    }

    /// Checks a request in Redis; `Err` when Redis failed, was too slow, or failed less
    /// than [`RETRY_MS`] ago.
    pub(crate) async fn check(&self, limits: &Limits) -> Result<Checked, Outage> {
        if coarse_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(Outage);
        }
        match tokio::time::timeout(self.timeout, self.ask(limits)).await {
            Ok(Ok(checked)) => {
                if self.in_outage.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: rate limits are shared again");
                }
                Ok(checked)
            }
            Ok(Err(err)) => Err(self.failed(&err.to_string())),
            Err(_) => Err(self.failed(&format!("no answer within {:?}", self.timeout))),
        }
    }

    fn failed(&self, error: &str) -> Outage {
        self.down_until_ms.store(coarse_ms() + RETRY_MS, Ordering::Relaxed);
        if !self.in_outage.swap(true, Ordering::Relaxed) {
            let meanwhile = match self.when_unavailable {
                WhenUnavailable::Local => "limiting in this process meanwhile",
                WhenUnavailable::Refuse => "refusing limited requests meanwhile (503)",
            };
            tracing::warn!(error, "rate limits: Redis unavailable, {meanwhile}");
        }
        Outage
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout));
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(conn.clone())
    }

    /// Both limits' scripts in one pipeline; a slot one limit took for a request the other
    /// refused is given back.
    async fn ask(&self, limits: &Limits) -> redis::RedisResult<Checked> {
        let mut conn = self.connection().await?;
        let held: Vec<&Held> = limits.held().collect();
        let keys: Vec<String> = held.iter().map(|held| self.key(held)).collect();
        let mut pipe = redis::pipe();
        let mut invocations = Vec::with_capacity(held.len());
        for (held, key) in held.iter().zip(&keys) {
            let mut invocation = self.script.prepare_invoke();
            invocation
                .key(key)
                .arg(interval_us(held))
                .arg(held.limit.burst())
                .arg("take");
            invocations.push(invocation);
        }
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        let answers: Vec<(i64, i64, i64)> = match pipe.query_async(&mut conn).await {
            Err(err) if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.script.prepare_invoke().load_async(&mut conn).await?;
                pipe.query_async(&mut conn).await?
            }
            other => other?,
        };
        let mut quotas: Vec<Quota> = answers.iter().map(|&answer| quota(answer)).collect();
        if quotas.iter().any(|quota| !quota.allowed) {
            for ((held, key), quota) in held.iter().zip(&keys).zip(quotas.iter_mut()) {
                if quota.allowed {
                    let mut give = self.script.prepare_invoke();
                    give.key(key).arg(interval_us(held)).arg(held.limit.burst()).arg("give");
                    let _: (i64, i64, i64) = give.invoke_async(&mut conn).await?;
                    quota.remaining = quota.remaining.saturating_add(1);
                    quota.wait_ns = 0;
                }
            }
        }
        let mut quotas = quotas.into_iter();
        let token = limits.token.as_ref().and_then(|_| quotas.next());
        let owner = limits.owner.as_ref().and_then(|_| quotas.next());
        Ok(limits.checked(token, owner))
    }
}

/// The emission interval in microseconds, Redis's clock unit: at least 1.
fn interval_us(held: &Held) -> u64 {
    (held.cell.interval / 1_000).max(1)
}

fn quota((allowed, remaining, wait_us): (i64, i64, i64)) -> Quota {
    Quota {
        allowed: allowed == 1,
        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
        wait_ns: u64::try_from(wait_us.max(0)).unwrap_or(0).saturating_mul(1_000),
    }
}
