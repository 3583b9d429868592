//! moto's server (the venv's `moto_server`: SSM for the whole-process runs,
//! DynamoDB for the busy participant) and a counting HTTP proxy in front of
//! it, so the requests a function makes are counted from outside.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// A `moto_server` process on a free loopback port; killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Moto {
    /// Starts `moto` (the path of `moto_server`), logging to `log`, and waits
    /// (at most 60 s) until it answers.
    pub async fn start(moto: &Path, log: &Path) -> Result<Moto, String> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            l.local_addr().map_err(|e| e.to_string())?.port()
        };
        let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", moto.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if client.get(format!("{url}/moto-api/")).send().await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err("moto_server did not start within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Moto { child, url })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One request that went through a [`CountingProxy`].
#[derive(Debug, Clone)]
pub struct Proxied {
    /// The AWS operation (`Query`, `GetParametersByPath`, ...), from
    /// `X-Amz-Target`; empty when there is none.
    pub operation: String,
    /// Proxy in to proxy out: the upstream's answer time plus loopback.
    pub ms: f64,
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    requests: AtomicUsize,
    peers: Mutex<HashSet<SocketAddr>>,
    log: Mutex<Vec<Proxied>>,
}

/// An HTTP proxy on a loopback port that forwards everything to `upstream`
/// and counts requests, client connections and upstream times.
pub struct CountingProxy {
    /// `http://127.0.0.1:PORT`: what the client under test is pointed at.
    pub url: String,
    state: Arc<ProxyState>,
    server: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> Result<CountingProxy, String> {
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            requests: AtomicUsize::new(0),
            peers: Mutex::new(HashSet::new()),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(proxy).with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Ok(CountingProxy {
            url: format!("http://{addr}"),
            state,
            server,
        })
    }

    /// Requests received so far (counted on arrival).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Distinct client connections (peer addresses) seen so far.
    pub fn connections(&self) -> usize {
        self.state.peers.lock().unwrap().len()
    }

    /// Requests answered so far, oldest first.
    pub fn answered(&self) -> usize {
        self.state.log.lock().unwrap().len()
    }

    /// The requests answered after the first `from`.
    pub fn since(&self, from: usize) -> Vec<Proxied> {
        let log = self.state.log.lock().unwrap();
        log.get(from..).map(<[Proxied]>::to_vec).unwrap_or_default()
    }

    /// Every answered request's time, in milliseconds.
    pub fn durations_ms(&self) -> Vec<f64> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.ms)
            .collect()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn proxy(
    State(state): State<Arc<ProxyState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.peers.lock().unwrap().insert(peer);
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    let upstream = state
        .client
        .request(parts.method, format!("{}{}", state.upstream, path))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let response = match upstream {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut response = Response::new(AxumBody::from(bytes));
            *response.status_mut() = status;
            for (k, v) in headers.iter() {
                if k != axum::http::header::TRANSFER_ENCODING
                    && k != axum::http::header::CONTENT_LENGTH
                {
                    response.headers_mut().insert(k, v.clone());
                }
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    state.log.lock().unwrap().push(Proxied { operation, ms });
    response
}
