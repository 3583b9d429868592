//! Deleting recordings from Twilio after the answer; the ones Twilio does
//! not confirm are kept in the index and retried ([`crate::recording_deletes`]).

use std::time::Instant;

use futures_util::future::join_all;

use crate::app::AppState;
use crate::config::Config;
use crate::domain::instant::unix_now;
use crate::http::Invocation;
use crate::index::Index;
use crate::recording_deletes::RETRIED_FOR;

/// Waiting deletes tried after one answer, at most.
const RETRY_BATCH: usize = 10;

impl AppState {
    /// Deletes recordings from Twilio; those Twilio does not confirm are
    /// kept in the index for a retry (logged when there is no index).
    pub(crate) async fn delete_recordings(
        &self,
        config: &Config,
        index: Option<&Index<'_>>,
        invocation: &Invocation,
        until: Instant,
        sids: &[String],
    ) {
        let failed = self.try_deletes(config, invocation, until, sids).await;
        if failed.is_empty() {
            return;
        }
        let Some(index) = index else {
            tracing::error!(recordings = ?failed, "could not delete recordings and, without the session index, they are not retried; delete them in the Twilio console");
            return;
        };
        match index
            .put_recording_deletes(&failed, unix_now() + RETRIED_FOR.as_secs())
            .await
        {
            Ok(()) => {
                tracing::warn!(recordings = ?failed, "could not delete recordings yet; kept for a retry");
                self.deferred.recording_retry().reopen();
            }
            Err(err) => {
                tracing::error!(recordings = ?failed, error = %err, "could not delete recordings nor keep them for a retry; delete them in the Twilio console")
            }
        }
    }

    /// Retries deletes earlier answers could not finish: the oldest few,
    /// removed from the index once Twilio confirms.
    pub(crate) async fn retry_recording_deletes(
        &self,
        config: &Config,
        index: &Index<'_>,
        invocation: &Invocation,
        until: Instant,
    ) {
        let gate = self.deferred.recording_retry();
        let now = unix_now();
        if !gate.open(now) {
            return;
        }
        let waiting = match index.recording_deletes(RETRY_BATCH).await {
            Ok(waiting) => waiting,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the recordings waiting to be deleted");
                gate.pause(now);
                return;
            }
        };
        if waiting.is_empty() {
            gate.pause(now);
            return;
        }
        let failed = self.try_deletes(config, invocation, until, &waiting).await;
        let deleted: Vec<String> = waiting
            .into_iter()
            .filter(|sid| !failed.contains(sid))
            .collect();
        if !failed.is_empty() {
            gate.pause(now);
        }
        if let Err(err) = index.recordings_deleted(&deleted).await {
            tracing::warn!(error = %err, "recordings deleted, but still listed for a retry");
        }
    }

    /// The sids Twilio did not confirm deleted.
    async fn try_deletes(
        &self,
        config: &Config,
        invocation: &Invocation,
        until: Instant,
        sids: &[String],
    ) -> Vec<String> {
        let Ok(twilio) = self.twilio_until(config, invocation, until) else {
            return sids.to_vec();
        };
        let results = join_all(sids.iter().map(|sid| twilio.delete_recording(sid))).await;
        sids.iter()
            .zip(results)
            .filter_map(|(sid, result)| {
                result.err().map(|err| {
                    tracing::warn!(recording = %sid, error = %err, "Twilio did not delete a recording");
                    sid.clone()
                })
            })
            .collect()
    }
}
