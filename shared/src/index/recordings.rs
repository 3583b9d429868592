//! Recordings the index keeps track of until Twilio no longer has them: a
//! recording whose call is not in the log yet waits under its session (and
//! goes with it), and a delete Twilio did not confirm waits to be retried.

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{
    session_pk, ItemKey, PendingRecording, RecordingDelete, PENDING_RECORDING_PREFIX,
    RECORDING_DELETE_PK,
};
use super::{decode, encode, put_request, Index, IndexError};

impl Index<'_> {
    /// Keeps a recording under its session until its call is logged: false
    /// (nothing written) when the session is no longer indexed.
    pub async fn put_pending_recording(
        &self,
        session: &str,
        pending: &PendingRecording,
    ) -> Result<bool, IndexError> {
        self.put_under_session(session, pending).await
    }

    /// The recordings waiting under `session` for their call.
    pub async fn pending_recordings(
        &self,
        session: &str,
    ) -> Result<Vec<PendingRecording>, IndexError> {
        self.query(
            "pk = :pk AND begins_with(sk, :recording)",
            &[
                (":pk", AttributeValue::S(session_pk(session))),
                (
                    ":recording",
                    AttributeValue::S(PENDING_RECORDING_PREFIX.to_owned()),
                ),
            ],
        )
        .await?
        .into_iter()
        .map(decode)
        .collect()
    }

    /// Notes recordings whose delete Twilio did not confirm, for a retry.
    pub async fn put_recording_deletes(
        &self,
        recording_sids: &[String],
        expires_at: u64,
    ) -> Result<(), IndexError> {
        for chunk in recording_sids.chunks(super::BATCH_WRITE) {
            let mut requests = chunk
                .iter()
                .map(|sid| encode(&RecordingDelete::new(sid, expires_at)).map(put_request))
                .collect::<Result<Vec<_>, _>>()?;
            self.write(&mut requests).await?;
        }
        Ok(())
    }

    /// The oldest `limit` recordings waiting to be deleted.
    pub async fn recording_deletes(&self, limit: usize) -> Result<Vec<String>, IndexError> {
        let waiting: Vec<RecordingDelete> = self.first(RECORDING_DELETE_PK, limit).await?;
        Ok(waiting
            .iter()
            .map(|d| d.recording_sid().to_owned())
            .collect())
    }

    /// Twilio confirmed these deletes.
    pub async fn recordings_deleted(&self, recording_sids: &[String]) -> Result<(), IndexError> {
        let keys: Vec<ItemKey> = recording_sids
            .iter()
            .map(|sid| ItemKey {
                pk: RECORDING_DELETE_PK.to_owned(),
                sk: sid.clone(),
            })
            .collect();
        self.delete(&keys).await
    }
}
