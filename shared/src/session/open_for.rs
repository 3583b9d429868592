//! The session an out-of-session caller's backend asked for
//! ([`crate::out_of_session`]), made like any other.

use crate::domain::address::{split_channel, Address, PhoneNumber};
use crate::domain::instant::unix_now;
use crate::domain::out_of_session::{callback_id, Knock};
use crate::domain::session::{InvalidField, SessionRequest};

use super::request::SessionRequestJson;
use super::{CreateRequest, Created, Session, SessionError, Sessions};

impl Sessions<'_> {
    /// Makes the session the backend asked for, with the caller on the pool
    /// number they reached. Idempotent per call or text: Twilio's retry of
    /// the same webhook finds the session the first attempt made.
    pub async fn open_for(
        &self,
        knock: &Knock<'_>,
        body: serde_json::Value,
    ) -> Result<Session, SessionError> {
        let invalid =
            |field: &str, message: &str| SessionError::Invalid(InvalidField::new(field, message));
        let json: SessionRequestJson = serde_json::from_value(body)
            .map_err(|_| invalid("session", "is not a POST /sessions body"))?;
        let request: SessionRequest = json.into();
        let config = self.config();
        let mut session = request.validate(&config.pools(), &config.session)?;
        let caller =
            Address::parse(knock.from).map_err(|_| invalid("from", "is not an address"))?;
        let proxy = PhoneNumber::parse(split_channel(knock.to).1)
            .map_err(|_| invalid("to", "is not a phone number"))?;
        let pool = config.pool_for(caller.channel())?;
        session.pin(caller, proxy, pool, &config.pools())?;
        let name = callback_id(knock.sid);
        let request = CreateRequest {
            id: name.clone(),
            idempotent_name: Some(format!("mc-{name}")),
            started: unix_now(),
            may_still_run: super::CREATE_MAY_RUN_FOR,
        };
        match self.create(&session, &request).await? {
            Created::New(session) | Created::Replayed(session) => Ok(session),
        }
    }
}
