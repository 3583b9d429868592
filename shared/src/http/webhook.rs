//! Twilio's requests to us: the form they carry, accepted only when signed.

use lambda_http::Request;

use super::body;
use super::signature::{verify_request, SignatureError};
use crate::config::TwilioCredentials;

/// A verified webhook's parameters, in the order Twilio sent them.
#[derive(Debug, Clone, Default)]
pub struct WebhookParams(Vec<(String, String)>);

impl WebhookParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature check failed: {0}")]
    Unsigned(#[from] SignatureError),
    #[error("the body is too large")]
    TooLarge,
}

/// Reads the form body and checks `X-Twilio-Signature` before anything else
/// looks at it.
pub fn verified_params(
    req: &Request,
    credentials: &TwilioCredentials,
    public_base_url: Option<&url::Url>,
) -> Result<WebhookParams, WebhookError> {
    let bytes = body::bytes(req).map_err(|_| WebhookError::TooLarge)?;
    let is_form = matches!(
        body::kind(req, "application/x-www-form-urlencoded"),
        Ok(body::BodyKind::Form)
    );
    let params: Vec<(String, String)> = if is_form {
        url::form_urlencoded::parse(bytes).into_owned().collect()
    } else {
        Vec::new()
    };
    verify_request(
        req,
        credentials.auth_token.expose(),
        public_base_url,
        &params,
        bytes,
    )?;
    Ok(WebhookParams(params))
}
