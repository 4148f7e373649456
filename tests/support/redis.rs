//! A Redis key prefix of a test's own.
#![cfg(feature = "redis")]

use tollgate::RedisStore;

use super::backends::unique_name;

/// A key prefix of the test's own, whose keys are deleted when the test ends, however it
/// ends.
pub struct Prefix {
    pub url: String,
    pub name: String,
}

impl Prefix {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: format!("{}:", unique_name("tgtest:")),
        }
    }

    pub async fn open(&self) -> RedisStore {
        self.open_at(&self.url).await
    }

    pub async fn open_at(&self, url: &str) -> RedisStore {
        RedisStore::builder(url).prefix(&self.name).open().await.unwrap()
    }

    /// A plain connection, for what a test does behind the store's back.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let (url, pattern) = (self.url.clone(), format!("{}*", self.name));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut conn = redis::Client::open(url.as_str())?
                    .get_multiplexed_async_connection()
                    .await?;
                // By `SCAN`, a batch at a time: a test may leave more keys than one answer
                // can carry within the connection's response timeout.
                let mut cursor = 0_u64;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await?;
                    if !keys.is_empty() {
                        redis::cmd("DEL").arg(keys).exec_async(&mut conn).await?;
                    }
                    if next == 0 {
                        return Ok::<_, redis::RedisError>(());
                    }
                    cursor = next;
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not delete the test keys {}*", self.name);
        }
    }
}
