//! The current configuration, cached per execution environment and
//! refreshed after a TTL; a failed refresh keeps the last good one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::*;

/// How long a failed first load is remembered: requests meanwhile get the
/// same answer without another SSM read, so a broken configuration costs
/// nothing per request (or per guessed password).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The current configuration, loaded on first use and refreshed after `ttl`.
/// A failed refresh keeps serving the last good configuration.
pub struct ConfigStore {
    source: ConfigSource,
    function: Option<Function>,
    ttl: Duration,
    cached: Mutex<Cached>,
    loads: AtomicUsize,
}

enum Cached {
    Nothing,
    Good(Instant, Arc<Config>),
    Failed(Instant, ConfigError),
}

impl ConfigStore {
    /// The configuration `function` reads, from `source`.
    pub fn new(source: ConfigSource, function: Function, ttl: Duration) -> Self {
        ConfigStore {
            source,
            function: Some(function),
            ttl,
            cached: Mutex::new(Cached::Nothing),
            loads: AtomicUsize::new(0),
        }
    }

    /// TTL from `CONFIG_TTL_SECONDS` (default 300).
    pub fn ttl_from_env() -> Duration {
        let seconds = std::env::var("CONFIG_TTL_SECONDS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(300);
        Duration::from_secs(seconds)
    }

    /// A store that always serves `config` (tests and benchmarks).
    pub fn fixed(config: Config) -> Self {
        ConfigStore {
            source: ConfigSource::Env,
            function: None,
            ttl: Duration::MAX,
            cached: Mutex::new(Cached::Good(Instant::now(), Arc::new(config))),
            loads: AtomicUsize::new(0),
        }
    }

    /// How many times the source was read.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }

    pub async fn current(&self) -> Result<Arc<Config>, ConfigError> {
        let mut cached = self.cached.lock().await;
        match &*cached {
            Cached::Good(loaded, config) if loaded.elapsed() < self.ttl => {
                return Ok(config.clone())
            }
            Cached::Failed(when, err) if when.elapsed() < RETRY_AFTER_FAILURE => {
                return Err(err.clone())
            }
            _ => {}
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = self
            .source
            .load()
            .await
            .and_then(|raw| match self.function {
                Some(function) => raw.parse_for(function),
                None => raw.parse(),
            });
        match loaded {
            Ok(config) => {
                let config = Arc::new(config);
                *cached = Cached::Good(Instant::now(), config.clone());
                Ok(config)
            }
            Err(err) => match &mut *cached {
                Cached::Good(loaded, config) => {
                    tracing::warn!(error = %err, "configuration refresh failed; keeping the last good configuration");
                    // Try again after another TTL rather than on every request.
                    *loaded = Instant::now();
                    Ok(config.clone())
                }
                _ => {
                    tracing::error!(error = %err, "configuration is not usable; requests answer 503 until it is fixed");
                    *cached = Cached::Failed(Instant::now(), err.clone());
                    Err(err)
                }
            },
        }
    }
}
