//! A PostgreSQL schema of a test's own.
#![cfg(feature = "postgres")]

use tokio_postgres::NoTls;
use tollgate::PostgresStore;

use super::backends::unique_name;

/// A schema of the test's own, dropped when the test ends, however it ends.
pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: unique_name("tgtest_"),
        }
    }

    pub async fn open(&self) -> PostgresStore {
        self.open_at(&self.url).await
    }

    pub async fn open_at(&self, url: &str) -> PostgresStore {
        PostgresStore::builder(url).schema(&self.name).open().await.unwrap()
    }

    /// A plain connection, for what a test does behind the store's back.
    pub async fn raw(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // A runtime of its own: the test's may be gone, or unwinding.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
                tokio::spawn(connection);
                // A connection the test left in a transaction (its runtime may be the one
                // blocked here) would hold its locks for ever.
                client
                    .execute(
                        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                         JOIN pg_namespace n ON l.objid = n.oid OR l.relation IN \
                         (SELECT oid FROM pg_class WHERE relnamespace = n.oid) \
                         WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}
