//! What a function builds once per execution environment and lends to every
//! invocation: configuration, the Twilio connection pool, the session index.

use std::time::Duration;

use crate::aws_sdk_config;
use crate::config::Config;
use crate::config::{ConfigSource, ConfigStore, Function};
use crate::deferred::Deferred;
use crate::fanout::FanOutLedger;
use crate::http::Invocation;
use crate::index::{SessionIndex, TABLE_VARIABLE};
use crate::metrics::Sink;
use crate::session::Sessions;
use crate::trust_roots::TrustRoots;
use crate::twilio::{Twilio, TwilioHttp, TwilioSettings};

/// Time an invocation may spend on Twilio before answering; with the
/// rollback budget it stays inside the 15 s function timeout.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(10);

pub struct AppState {
    pub config: ConfigStore,
    pub twilio: TwilioHttp,
    /// The session index, when `SESSION_INDEX_TABLE` names one.
    pub index: Option<SessionIndex>,
    pub budget: Duration,
    /// How long a create may still be running, for retries that find it
    /// half made ([`crate::session::CREATE_MAY_RUN_FOR`]).
    pub create_window: Duration,
    /// Group calls already rung in this execution environment (the index,
    /// when there is one, remembers them across environments).
    pub fanout: FanOutLedger,
    /// Senders already told that a pool number has no session for them
    /// ([`crate::domain::out_of_session::REPLY_AT_MOST_EVERY`]).
    pub replies: FanOutLedger,
    /// Work queued for after the answer (events, the call log); it shares
    /// the invocation's deadline ([`crate::after_answer`]).
    pub deferred: Deferred,
    /// Where each invocation's metrics document goes: stdout in Lambda,
    /// nowhere unless a test asks ([`Sink::memory`]).
    pub metrics: Sink,
}

impl AppState {
    pub fn new(config: ConfigStore, twilio: TwilioHttp) -> Self {
        AppState {
            config,
            twilio,
            index: None,
            budget: REQUEST_BUDGET,
            create_window: crate::session::CREATE_MAY_RUN_FOR,
            fanout: FanOutLedger::default(),
            replies: FanOutLedger::remembering(crate::domain::out_of_session::REPLY_AT_MOST_EVERY),
            deferred: Deferred::default(),
            metrics: Sink::Discard,
        }
    }

    pub fn with_index(mut self, index: SessionIndex) -> Self {
        self.index = Some(index);
        self
    }

    /// Reads the environment, and loads configuration now, during init, so
    /// the first request does not wait for it. A bad configuration does not
    /// stop the function: requests answer 503 until it is fixed.
    ///
    /// Meanwhile the connections the first invocation will use are opened,
    /// to Twilio ([`TwilioHttp::preconnect`]) and to the session index
    /// ([`SessionIndex::preconnect`]), so a cold start's first answer pays
    /// no TLS handshake. Every client trusts the roots read once at the
    /// start ([`TrustRoots::system`]). For the session API, the pools'
    /// numbers are placed ([`warm_numbers`]) as soon as the configuration
    /// is read.
    pub async fn from_env(function: Function) -> Result<Self, lambda_http::Error> {
        let roots = TrustRoots::system();
        let twilio = TwilioHttp::with_roots(TwilioSettings::from_env()?, roots)?;
        let needs_aws = ["SSM_PARAMETER_PREFIX", TABLE_VARIABLE]
            .iter()
            .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
        let aws = match needs_aws {
            true => Some(aws_sdk_config::from_env(
                roots.map(|roots| roots.aws_http_client()),
            )),
            false => None,
        };
        let source = ConfigSource::from_env(function, aws.as_ref());
        let config = ConfigStore::new(source, function, ConfigStore::ttl_from_env());
        let index = aws.as_ref().and_then(SessionIndex::from_env);
        // A failure is logged by the store and answered with 503 until fixed.
        let (_, _, _) = tokio::join!(
            async {
                // Only a create places numbers on its way to the answer;
                // the others would only add the metadata's load to init.
                match function {
                    Function::Sessions => warm_numbers(&config).await,
                    _ => drop(config.current().await),
                }
            },
            twilio.preconnect(function.twilio_connections_at_once(index.is_some())),
            async {
                if let Some(index) = &index {
                    index.preconnect().await;
                }
            },
        );
        let mut state = AppState::new(config, twilio);
        state.index = index;
        state.metrics = Sink::Stdout;
        Ok(state)
    }

    /// A Twilio client for one invocation, counting into its metrics.
    pub fn twilio_for<'a>(
        &'a self,
        config: &'a Config,
        invocation: &'a Invocation,
    ) -> Result<Twilio<'a>, crate::config::ConfigError> {
        Ok(self
            .twilio
            .session(config.twilio()?, self.budget, invocation.metrics()))
    }

    /// A Twilio client for after-answer work: its requests end by `until`.
    pub fn twilio_until<'a>(
        &'a self,
        config: &'a Config,
        invocation: &'a Invocation,
        until: std::time::Instant,
    ) -> Result<Twilio<'a>, crate::config::ConfigError> {
        let budget = until.saturating_duration_since(std::time::Instant::now());
        Ok(self
            .twilio
            .session(config.twilio()?, budget, invocation.metrics()))
    }

    /// The session service for one invocation.
    pub fn sessions<'a>(
        &'a self,
        twilio: &'a Twilio<'a>,
        config: &'a Config,
        invocation: &'a Invocation,
    ) -> Sessions<'a> {
        let index = self
            .index
            .as_ref()
            .map(|index| index.for_invocation(invocation.index_requests()));
        Sessions::new(twilio, index, config, &self.deferred, invocation.metrics())
    }
}

/// Loads the configuration and places every pool number (country, region,
/// area code), so libphonenumber's metadata is read during init rather than
/// by the first request that chooses or recognises a proxy. The placing is
/// CPU work, so it runs on the blocking pool: the connections opened beside
/// it in init keep making progress.
pub async fn warm_numbers(config: &ConfigStore) {
    if let Ok(config) = config.current().await {
        let placed = tokio::task::spawn_blocking(move || {
            for pool in config.pools() {
                pool.warm();
            }
        });
        if placed.await.is_err() {
            tracing::warn!("placing the pool numbers failed; the first create will");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::RawConfig;

    fn store() -> ConfigStore {
        let raw = RawConfig::from_ssm(
            [
                ("twilio/account-sid", "AC00000000000000000000000000000000"),
                ("twilio/auth-token", "an-auth-token"),
                ("number-pool", "+14155550001,+16045550002,+447700900003"),
                ("auth/username", "operator"),
                ("auth/password", "correct horse battery staple"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        ConfigStore::new(
            ConfigSource::Values(raw),
            Function::Sessions,
            Duration::from_secs(300),
        )
    }

    #[tokio::test]
    async fn init_places_the_pool_numbers_that_invocations_then_use() {
        let store = store();
        let unwarmed = store.current().await.unwrap();
        assert!(!unwarmed.pool().unwrap().is_warm());

        let store = self::store();
        warm_numbers(&store).await;
        let first_invocation = store.current().await.unwrap();
        assert!(first_invocation.pool().unwrap().is_warm());
        // The configuration was read once: the warmed pool is the one served.
        assert_eq!(store.loads(), 1);
        assert!(Arc::ptr_eq(
            &first_invocation,
            &store.current().await.unwrap()
        ));
    }
}
