//! What a function builds once per execution environment and lends to every
//! invocation: configuration and the Twilio connection pool.

use std::time::Duration;

use crate::config::{ConfigSource, ConfigStore, Function};
use crate::fanout::FanOutLedger;
use crate::twilio::{TwilioHttp, TwilioSettings};

/// Time an invocation may spend on Twilio before answering; with the
/// rollback budget it stays inside the 15 s function timeout.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(10);

pub struct AppState {
    pub config: ConfigStore,
    pub twilio: TwilioHttp,
    pub budget: Duration,
    /// How long a create may still be running, for retries that find it
    /// half made ([`crate::provision::CREATE_MAY_RUN_FOR`]).
    pub create_window: Duration,
    /// Group calls already rung, so a replayed webhook rings nobody twice.
    pub fanout: FanOutLedger,
}

impl AppState {
    pub fn new(config: ConfigStore, twilio: TwilioHttp) -> Self {
        AppState {
            config,
            twilio,
            budget: REQUEST_BUDGET,
            create_window: crate::provision::CREATE_MAY_RUN_FOR,
            fanout: FanOutLedger::default(),
        }
    }

    /// Reads the environment, and loads configuration now, during init, so
    /// the first request does not wait for it. A bad configuration does not
    /// stop the function: requests answer 503 until it is fixed.
    ///
    /// The Twilio client is built on a blocking thread meanwhile: loading the
    /// system's root certificates is CPU and file work that would otherwise
    /// add to the SSM round trip instead of overlapping it.
    pub async fn from_env(function: Function) -> Result<Self, lambda_http::Error> {
        let settings = TwilioSettings::from_env()?;
        let twilio = tokio::task::spawn_blocking(|| TwilioHttp::new(settings));
        let source = ConfigSource::from_env(function).await;
        let config = ConfigStore::new(source, function, ConfigStore::ttl_from_env());
        // A failure is logged by the store and answered with 503 until fixed.
        let _ = config.current().await;
        Ok(AppState::new(config, twilio.await??))
    }
}
