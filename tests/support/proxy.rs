//! A TCP proxy a test can stop, slow down and start again, to play a database outage without
//! touching the shared server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    upstream: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Proxy {
    /// A proxy on a free loopback port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            target,
            delay_ms: Arc::new(AtomicU64::new(0)),
            tasks: Arc::default(),
            upstream: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, delay, tasks) = (self.target, Arc::clone(&self.delay_ms), Arc::clone(&self.tasks));
        let upstream = Arc::clone(&self.upstream);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let delay = Arc::clone(&delay);
                let upstream = Arc::clone(&upstream);
                let forward = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    upstream.lock().unwrap().extend(server.local_addr());
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = pipe(client_read, server_write, Arc::clone(&delay));
                    let down = pipe(server_read, client_write, delay);
                    let _ = tokio::join!(up, down);
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// The addresses of the proxy's own connections to the server, as the server sees them.
    pub fn upstream_addrs(&self) -> Vec<SocketAddr> {
        self.upstream.lock().unwrap().clone()
    }

    /// Every byte waits this long before it is forwarded (a slow network or server).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes the port and every connection through it: the database is gone.
    pub fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens on the same port again: the database is back.
    pub async fn resume(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                // The aborted accept loop may take a moment to release the port.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
