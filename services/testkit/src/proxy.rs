//! A TCP proxy in front of the test broker or database that can cut, freeze and refuse
//! connections, so tests play the network failures and outages yimen must recover from.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Listens on a free loopback port and forwards each connection to the URL's host and port.
/// Dropping it stops it and drops every connection through it.
pub struct Proxy {
    url: String,
    open: Arc<AtomicBool>,
    cut: Arc<Mutex<CancellationToken>>,
    freeze: Arc<Mutex<CancellationToken>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy in front of the server `upstream_url` (`amqp://`, `postgres://`) points at.
    pub async fn start(upstream_url: &str) -> Proxy {
        let upstream = upstream_of(upstream_url);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let open = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Mutex::new(CancellationToken::new()));
        let freeze = Arc::new(Mutex::new(CancellationToken::new()));
        let accepting = tokio::spawn({
            let (open, cut, freeze) = (open.clone(), cut.clone(), freeze.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        // An outage: the connection drops during the handshake.
                        continue;
                    }
                    let cut = cut.lock().expect("proxy lock").clone();
                    let freeze = freeze.lock().expect("proxy lock").clone();
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut.cancelled() => {}
                            // Frozen: both sockets stay open and nothing moves.
                            _ = freeze.cancelled() => cut.cancelled().await,
                        }
                    });
                }
            }
        });
        Proxy {
            url: through(upstream_url, port),
            open,
            cut,
            freeze,
            accepting,
        }
    }

    /// The upstream URL with its host and port replaced by the proxy's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops every connection through the proxy, as a network failure does.
    pub fn cut(&self) {
        let mut cut = self.cut.lock().expect("proxy lock");
        cut.cancel();
        *cut = CancellationToken::new();
    }

    /// Every connection through the proxy stops moving bytes but stays open, as when a
    /// client library hangs; new connections go through.
    pub fn freeze(&self) {
        let mut freeze = self.freeze.lock().expect("proxy lock");
        freeze.cancel();
        *freeze = CancellationToken::new();
    }

    /// Closed: new connections drop at once, as when the broker is down. Open again: they go
    /// through.
    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }

    /// A broker outage: every connection drops and new ones are refused until
    /// [`Proxy::set_open`]`(true)`.
    pub fn outage(&self) {
        self.set_open(false);
        self.cut();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

/// The `host:port` a URL points at (its scheme's default port when it names none).
fn upstream_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.contains(':') {
        return host_port.to_string();
    }
    let port = match scheme {
        "amqp" => 5672,
        "amqps" => 5671,
        "postgres" | "postgresql" => 5432,
        other => panic!("no default port known for {other}://"),
    };
    format!("{host_port}:{port}")
}

/// `url` with its host and port replaced by `127.0.0.1:<port>`.
fn through(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
    format!("{scheme}://{userinfo}127.0.0.1:{port}{path}")
}
