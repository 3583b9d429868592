//! Voice API 2010-04-01: placing outbound calls, deleting recordings.

use serde::Deserialize;

use super::client::{Idempotency, Twilio};
use super::error::TwilioError;

#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    pub sid: String,
}

impl Twilio<'_> {
    /// Places a call from `from` (a pool number) to `to`, running `twiml`.
    /// Never repeated after a lost answer: a second call would ring twice.
    pub async fn create_call(
        &self,
        from: &str,
        to: &str,
        twiml: &str,
    ) -> Result<Call, TwilioError> {
        let url = self.api_url(&format!(
            "/2010-04-01/Accounts/{}/Calls.json",
            self.account_sid()
        ));
        let form = [("To", to), ("From", from), ("Twiml", twiml)];
        self.post(&url, &form, Idempotency::Unsafe).await
    }
}

impl Twilio<'_> {
    /// Deletes a call recording; one already gone counts as deleted.
    pub async fn delete_recording(&self, recording_sid: &str) -> Result<(), TwilioError> {
        let url = self.api_url(&format!(
            "/2010-04-01/Accounts/{}/Recordings/{recording_sid}.json",
            self.account_sid()
        ));
        match self.delete(&url).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}
