//! A minimal Twilio client for the emulator's HTTP tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use serde_json::Value;
use twilio_emulator::{Emulator, EmulatorConfig};

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub account_sid: String,
    pub token: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a Twilio error body and returns nothing else worth having.
    pub fn assert_error(&self, status: u16, code: u64) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["code"], code, "body: {}", self.text);
        assert_eq!(body["status"], status);
        assert_eq!(
            body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

pub async fn start() -> (Emulator, Client) {
    start_with(EmulatorConfig::default()).await
}

pub async fn start_with(config: EmulatorConfig) -> (Emulator, Client) {
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let client = Client::for_emulator(&emulator);
    (emulator, client)
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Client {
    pub fn for_emulator(emulator: &Emulator) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: emulator.base_url(),
            account_sid: emulator.account_sid().to_owned(),
            token: emulator.auth_token().to_owned(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        let response = request
            .basic_auth(&self.account_sid, Some(&self.token))
            .send()
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    pub async fn try_post(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Reply, reqwest::Error> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        self.send(request).await
    }

    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        self.try_post(path, pairs).await.expect("POST answered")
    }

    /// A POST with extra headers (`X-Twilio-Webhook-Enabled`, ...).
    pub async fn post_with_headers(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await.expect("POST answered")
    }

    pub async fn try_get(&self, path_and_query: &str) -> Result<Reply, reqwest::Error> {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}{path_and_query}", self.base)
        };
        self.send(self.http.get(url)).await
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        self.try_get(path_and_query).await.expect("GET answered")
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
            .expect("DELETE answered")
    }

    /// Creates a conversation and returns its sid.
    pub async fn create_conversation(&self, pairs: &[(&str, &str)]) -> String {
        let reply = self.post("/v1/Conversations", pairs).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()["sid"].as_str().unwrap().to_owned()
    }

    pub async fn add_participant(&self, conversation: &str, address: &str, proxy: &str) -> Reply {
        self.post(
            &format!("/v1/Conversations/{conversation}/Participants"),
            &[
                ("MessagingBinding.Address", address),
                ("MessagingBinding.ProxyAddress", proxy),
            ],
        )
        .await
    }

    /// POSTs JSON to the control API (no auth).
    pub async fn control_post(&self, path: &str, body: &Value) -> Reply {
        let response = self
            .http
            .post(format!("{}/_emulator{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("control API answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Reply {
            status,
            headers,
            text: response.text().await.unwrap(),
        }
    }

    pub async fn control_get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/_emulator{path}", self.base))
            .send()
            .await
            .expect("control API answered");
        assert_eq!(response.status().as_u16(), 200);
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }
}

/// `XX` + 32 lowercase hex.
pub fn is_sid(value: &Value, prefix: &str) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 34
            && s.starts_with(prefix)
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
