//! A fault-injecting proxy on 127.0.0.1 for the test servers: put it between ferry and S3,
//! GCS or an HDFS NameNode and it breaks things the way networks and busy stores do.
//!
//! Two modes:
//! - [`Protocol::Http`] (S3, GCS): every client connection carries one request (the proxy asks
//!   the server to close after answering, so clients open a new connection per request). Per
//!   request, decided from the seed and the connection's number, it resets the connection,
//!   answers `500`, `503` or S3's `503 SlowDown` without asking the server, cuts the response
//!   short mid-body, stalls mid-body, trickles the response slowly, or passes it through. With
//!   a [`Faults::rate_limit`] it also answers `503 SlowDown` to every request above that many
//!   per second (a token bucket), as a throttling store does.
//! - [`Protocol::Tcp`] (HDFS NameNode RPC): bytes are relayed both ways; each chunk from the
//!   server may, by the seed, reset the connection, be cut short (close), stall, or trickle.
//!   HDFS clients reach DataNodes at the addresses the NameNode hands out, so only the
//!   NameNode's connection goes through the proxy.
//!
//! The proxy runs on its own thread and runtime, so synchronous tests can use it; it stops when
//! the [`FaultProxy`] is dropped. [`FaultProxy::stats`] counts what it did.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (S3, GCS): faults per request, HTTP error answers, rate limiting.
    Http,
    /// Raw TCP (HDFS NameNode RPC): faults per relayed chunk of the server's answers.
    Tcp,
}

/// Which faults to inject and how often (per mille of requests, or of chunks in TCP mode).
#[derive(Debug, Clone)]
pub struct Faults {
    /// The seed every decision derives from.
    pub seed: u64,
    /// Reset the connection (RST) instead of answering.
    pub reset: u32,
    /// Answer `500 InternalError` (HTTP only).
    pub server_error: u32,
    /// Answer `503 ServiceUnavailable` (HTTP only).
    pub unavailable: u32,
    /// Answer `503 SlowDown` (HTTP only).
    pub slow_down: u32,
    /// Cut the answer short mid-body and close.
    pub truncate: u32,
    /// Stop sending mid-body for [`Faults::stall_for`], then go on.
    pub stall: u32,
    /// Send the answer in small, slow pieces.
    pub trickle: u32,
    /// How long a stall lasts.
    pub stall_for: Duration,
    /// Requests per second above which every request is answered `503 SlowDown` (HTTP only).
    pub rate_limit: Option<f64>,
}

impl Faults {
    /// No faults at all: a plain relay (add faults with struct update syntax).
    pub fn none(seed: u64) -> Faults {
        Faults {
            seed,
            reset: 0,
            server_error: 0,
            unavailable: 0,
            slow_down: 0,
            truncate: 0,
            stall: 0,
            trickle: 0,
            stall_for: Duration::from_millis(500),
            rate_limit: None,
        }
    }

    /// Every kind of fault, each on `per_mille` of requests.
    pub fn all(seed: u64, per_mille: u32) -> Faults {
        Faults {
            reset: per_mille,
            server_error: per_mille,
            unavailable: per_mille,
            slow_down: per_mille,
            truncate: per_mille,
            stall: per_mille,
            trickle: per_mille,
            ..Faults::none(seed)
        }
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub connections: u64,
    /// Requests passed to the server (HTTP), whole or in part.
    pub forwarded: u64,
    /// Requests answered `503 SlowDown` by the rate limit.
    pub throttled: u64,
    /// Faults injected (resets, error answers, truncations, stalls, trickles).
    pub faults: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    forwarded: AtomicU64,
    throttled: AtomicU64,
    faults: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    address: std::net::SocketAddr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`, `hdfs://host:port` or
    /// `host:port`; any path is ignored).
    pub fn start(upstream: &str, protocol: Protocol, faults: Faults) -> FaultProxy {
        let upstream = host_port(upstream);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let address = listener.local_addr().expect("bound address");
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream,
            protocol,
            bucket: faults.rate_limit.map(|rate| Mutex::new(Bucket::new(rate))),
            faults,
            counters: counters.clone(),
        });
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let mut number = 0u64;
                while !stopping.load(Ordering::SeqCst) {
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
                    let Ok(Ok((client, _))) = accepted else {
                        continue;
                    };
                    shared.counters.connections.fetch_add(1, Ordering::SeqCst);
                    let shared = shared.clone();
                    let rng = Rng::new(shared.faults.seed, number);
                    number += 1;
                    tokio::spawn(async move {
                        let _ = match shared.protocol {
                            Protocol::Http => shared.http(client, rng).await,
                            Protocol::Tcp => shared.tcp(client, rng).await,
                        };
                    });
                }
            });
            // Dropping the runtime ends every connection still open.
        });
        FaultProxy {
            address,
            counters,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            connections: c.connections.load(Ordering::SeqCst),
            forwarded: c.forwarded.load(Ordering::SeqCst),
            throttled: c.throttled.load(Ordering::SeqCst),
            faults: c.faults.load(Ordering::SeqCst),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn host_port(upstream: &str) -> String {
    let rest = upstream
        .split_once("://")
        .map_or(upstream, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// SplitMix64, seeded by the proxy's seed and the connection's number.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, number: u64) -> Rng {
        let mut rng = Rng(seed ^ number.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A token bucket: `rate` tokens a second, at most one second's worth stored.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket {
            rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate.max(1.0));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The fault chosen for one request or chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    Reset,
    ServerError,
    Unavailable,
    SlowDown,
    Truncate,
    Stall,
    Trickle,
}

/// How much of an answer a trickle sends slowly (2 KiB pieces, 2 ms apart).
const TRICKLE_BYTES: usize = 256 * 1024;

struct Shared {
    upstream: String,
    protocol: Protocol,
    faults: Faults,
    bucket: Option<Mutex<Bucket>>,
    counters: Arc<Counters>,
}

impl Shared {
    fn pick(&self, rng: &mut Rng) -> Fault {
        let f = &self.faults;
        let mut roll = rng.below(1000) as u32;
        for (weight, fault) in [
            (f.reset, Fault::Reset),
            (f.server_error, Fault::ServerError),
            (f.unavailable, Fault::Unavailable),
            (f.slow_down, Fault::SlowDown),
            (f.truncate, Fault::Truncate),
            (f.stall, Fault::Stall),
            (f.trickle, Fault::Trickle),
        ] {
            if self.protocol == Protocol::Tcp
                && matches!(
                    fault,
                    Fault::ServerError | Fault::Unavailable | Fault::SlowDown
                )
            {
                continue;
            }
            if roll < weight {
                self.counters.faults.fetch_add(1, Ordering::SeqCst);
                return fault;
            }
            roll -= weight;
        }
        Fault::Pass
    }

    /// One HTTP request on `client`: answered by the proxy, or relayed (with a fault).
    async fn http(&self, mut client: TcpStream, mut rng: Rng) -> std::io::Result<()> {
        let Some((head, body_start)) = read_head(&mut client).await? else {
            return Ok(());
        };
        let throttled = self
            .bucket
            .as_ref()
            .is_some_and(|b| !b.lock().expect("bucket").take());
        let fault = if throttled {
            self.counters.throttled.fetch_add(1, Ordering::SeqCst);
            Fault::SlowDown
        } else {
            self.pick(&mut rng)
        };
        let answer = match fault {
            Fault::Reset => {
                client.set_zero_linger()?;
                return Ok(());
            }
            Fault::ServerError => Some((500, "Internal Server Error", "InternalError")),
            Fault::Unavailable => Some((503, "Service Unavailable", "ServiceUnavailable")),
            Fault::SlowDown => Some((503, "Slow Down", "SlowDown")),
            _ => None,
        };
        if let Some((status, reason, code)) = answer {
            // Read the request's body first, as a server does, so the client sees the answer
            // rather than a broken pipe.
            let length = content_length(&head).unwrap_or(0);
            drain(&mut client, length.saturating_sub(body_start.len() as u64)).await;
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the fault proxy</Message></Error>"
            );
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
            client.shutdown().await?;
            return Ok(());
        }
        self.counters.forwarded.fetch_add(1, Ordering::SeqCst);
        let mut server = TcpStream::connect(&self.upstream).await?;
        server.write_all(&close_after(&head)).await?;
        server.write_all(&body_start).await?;
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let upload = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            let _ = server_write.shutdown().await;
        });
        // The answer, with its fault: where in it the fault strikes is random.
        let mut answer_head = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        let mut strike_at: Option<u64> = (fault == Fault::Pass).then_some(u64::MAX);
        let mut trickle_left = 0usize;
        loop {
            let n = server_read.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            let chunk = &buffer[..n];
            if strike_at.is_none() {
                answer_head.extend_from_slice(chunk);
                if let Some(end) = find(&answer_head, b"\r\n\r\n") {
                    let body = content_length(&answer_head[..end]).unwrap_or(0);
                    strike_at = Some(end as u64 + 4 + rng.below(body.max(1)));
                }
            }
            let cut = match strike_at {
                Some(at) if at >= sent && at < sent + n as u64 => (at - sent) as usize,
                _ => n,
            };
            let (before, after) = chunk.split_at(cut);
            client_write.write_all(before).await?;
            sent += n as u64;
            if cut < n {
                match fault {
                    Fault::Truncate => {
                        upload.abort();
                        return Ok(()); // dropped: the client sees the body end early
                    }
                    Fault::Stall => tokio::time::sleep(self.faults.stall_for).await,
                    Fault::Trickle => trickle_left = TRICKLE_BYTES,
                    _ => {}
                }
            }
            // A trickle goes on for TRICKLE_BYTES, then the rest passes at full speed.
            let slow = after.len().min(trickle_left);
            for piece in after[..slow].chunks(2048) {
                client_write.write_all(piece).await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            trickle_left -= slow;
            client_write.write_all(&after[slow..]).await?;
        }
        client_write.shutdown().await?;
        let _ = upload.await;
        Ok(())
    }

    /// A raw TCP connection: relayed both ways, the server's side with faults per chunk.
    async fn tcp(&self, client: TcpStream, mut rng: Rng) -> std::io::Result<()> {
        let server = TcpStream::connect(&self.upstream).await?;
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let upload = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            let _ = server_write.shutdown().await;
        });
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = server_read.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            let chunk = &buffer[..n];
            match self.pick(&mut rng) {
                Fault::Reset => {
                    client_write.as_ref().set_zero_linger()?;
                    upload.abort();
                    return Ok(());
                }
                Fault::Truncate => {
                    let cut = rng.below(n as u64) as usize;
                    client_write.write_all(&chunk[..cut]).await?;
                    upload.abort();
                    return Ok(());
                }
                Fault::Stall => {
                    let cut = rng.below(n as u64) as usize;
                    client_write.write_all(&chunk[..cut]).await?;
                    tokio::time::sleep(self.faults.stall_for).await;
                    client_write.write_all(&chunk[cut..]).await?;
                }
                Fault::Trickle => {
                    for piece in chunk.chunks(256) {
                        client_write.write_all(piece).await?;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                _ => client_write.write_all(chunk).await?,
            }
        }
        client_write.shutdown().await?;
        let _ = upload.await;
        Ok(())
    }
}

/// Reads a request's head (up to the blank line); returns it and whatever body bytes came
/// with it, or `None` when the client closed first.
async fn read_head(client: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let body = data.split_off(end + 4);
            return Ok(Some((data, body)));
        }
        if data.len() > 256 * 1024 {
            return Ok(None);
        }
        let n = client.read(&mut buffer).await?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buffer[..n]);
    }
}

/// The request head with `Connection: close`, so the server closes after its answer and
/// every request comes on a connection of its own.
fn close_after(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len() + 20);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if !line.starts_with(|c: char| c.is_whitespace())
            && (name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive"))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// The `Content-Length` of a head, if it has one.
fn content_length(head: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
}

/// Reads and discards `length` bytes (bounded: gives up after 5 s).
async fn drain(client: &mut TcpStream, mut length: u64) {
    let mut buffer = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while length > 0 {
        match tokio::time::timeout_at(deadline, client.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => length = length.saturating_sub(n as u64),
            _ => return,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_after_replaces_connection_headers() {
        let head = b"GET /b/k HTTP/1.1\r\nHost: x\r\nconnection: keep-alive\r\nContent-Length: 3";
        let out = String::from_utf8(close_after(head)).unwrap();
        assert_eq!(
            out,
            "GET /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(content_length(head), Some(3));
    }

    #[test]
    fn decisions_follow_the_seed() {
        let rolls = |seed| {
            let mut rng = Rng::new(seed, 7);
            (0..8).map(|_| rng.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(rolls(1), rolls(1));
        assert_ne!(rolls(1), rolls(2));
    }

    #[test]
    fn the_bucket_refuses_above_its_rate() {
        let mut bucket = Bucket::new(5.0);
        let granted = (0..20).filter(|_| bucket.take()).count();
        assert_eq!(granted, 5);
    }
}
