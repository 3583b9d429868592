//! One change to a session at a time, across every execution environment:
//! a change takes the session's lock before it reads the session, so it
//! always works from what the previous change wrote. Without an index
//! there is no lock (last write wins, as documented).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::{SessionError, Sessions};
use crate::domain::instant::unix_now;

/// How long one change may hold the lock: a request's whole budget, after
/// which a crashed holder no longer blocks others.
const LOCK_FOR: Duration = Duration::from_secs(15);
/// How long a change waits for another to finish before it answers
/// `409 session_busy`: most changes take a few Twilio round trips.
pub const LOCK_WAIT: Duration = Duration::from_secs(4);

impl Sessions<'_> {
    /// Runs `change` holding the session's lock, waiting up to
    /// [`LOCK_WAIT`] for it; [`SessionError::Busy`] when it stays taken.
    pub(crate) async fn locked<T>(
        &self,
        sid: &str,
        change: impl AsyncFnOnce() -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        self.lock(sid).await?;
        let outcome = change().await;
        self.unlock(sid).await;
        outcome
    }

    async fn lock(&self, sid: &str) -> Result<(), SessionError> {
        if self.index.is_none() {
            return Ok(());
        }
        let waiting = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(25))
            .with_max_delay(Duration::from_millis(400))
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(LOCK_WAIT));
        (|| self.try_lock(sid))
            .retry(waiting)
            .when(|e| matches!(e, SessionError::Busy))
            .await
    }

    async fn try_lock(&self, sid: &str) -> Result<(), SessionError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let now = unix_now();
        match index
            .lock_session(sid, now, now + LOCK_FOR.as_secs())
            .await?
        {
            true => Ok(()),
            false => Err(SessionError::Busy),
        }
    }

    async fn unlock(&self, sid: &str) {
        if let Some(index) = &self.index {
            if let Err(err) = index.unlock_session(sid).await {
                // It expires by itself.
                tracing::warn!(session = sid, error = %err, "could not release a session's lock");
            }
        }
    }
}
