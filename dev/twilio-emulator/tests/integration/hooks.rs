//! A stand-in for our webhook endpoints: records every request the emulator sends and
//! answers what a test told it to, per path.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use tokio::sync::mpsc;

/// What every path answers unless told otherwise: a 1:1 connect.
pub const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="+14155550000"><Number>+14155550102</Number></Dial></Response>"#;

/// One request our stand-in received.
#[derive(Debug)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub signature: String,
    /// The form for a POST, the query for a GET.
    pub params: Vec<(String, String)>,
}

impl Received {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a path answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Answer {
    pub fn xml(body: &str) -> Self {
        Self {
            status: 200,
            content_type: "text/xml",
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::UnboundedSender<Received>,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
}

pub struct Hooks {
    pub base: String,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
}

impl fmt::Display for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

async fn record(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let params = if method == Method::GET {
        let query = uri.query().unwrap_or_default();
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let answer = shared
        .answers
        .lock()
        .unwrap()
        .get(uri.path())
        .cloned()
        .unwrap_or_else(|| Answer::xml(TWIML));
    let _ = shared.tx.send(Received {
        method: method.to_string(),
        path: uri.to_string(),
        signature,
        params,
    });
    tokio::time::sleep(answer.delay).await;
    (
        StatusCode::from_u16(answer.status).unwrap(),
        [("content-type", answer.content_type)],
        answer.body,
    )
        .into_response()
}

impl Hooks {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let answers = Arc::new(Mutex::new(HashMap::new()));
        let app = Router::new().fallback(record).with_state(Shared {
            tx,
            answers: Arc::clone(&answers),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            rx: tokio::sync::Mutex::new(rx),
            answers,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// From now on `path` (without query) answers `answer`.
    pub fn answer(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    /// The next request, within 5 s.
    pub async fn next(&self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.rx.lock().await.recv())
            .await
            .expect("a webhook arrives")
            .expect("channel open")
    }

    /// Asserts that nothing arrives within a short while.
    pub async fn quiet(&self) {
        let got =
            tokio::time::timeout(Duration::from_millis(200), self.rx.lock().await.recv()).await;
        assert!(got.is_err(), "unexpected webhook: {got:?}");
    }
}
