//! Operator authentication: HTTP basic auth compared in constant time.

use base64::Engine;
use lambda_http::http::header;
use lambda_http::Request;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::config::OperatorCredentials;

/// Succeeds when the request carries the operator's username and password.
pub fn require_operator(req: &Request, operator: &OperatorCredentials) -> Result<(), ApiError> {
    let (username, password) = basic_credentials(req).ok_or(ApiError::Unauthorized)?;
    // Hashing first makes the comparison independent of the lengths too.
    let user_ok = digest(&username).ct_eq(&digest(&operator.username));
    let password_ok = digest(&password).ct_eq(&digest(operator.password.expose()));
    if bool::from(user_ok & password_ok) && !password.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn operator() -> OperatorCredentials {
        OperatorCredentials {
            username: "operator".into(),
            password: Secret::new("s3cret"),
        }
    }

    fn with_auth(value: &str) -> Request {
        lambda_http::http::Request::builder()
            .header(header::AUTHORIZATION, value)
            .body(lambda_http::Body::Empty)
            .unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn accepts_the_operator() {
        assert!(require_operator(&with_auth(&basic("operator:s3cret")), &operator()).is_ok());
        assert!(require_operator(
            &with_auth(&basic("operator:s3cret").replace("Basic", "basic")),
            &operator()
        )
        .is_ok());
    }

    #[test]
    fn refuses_everything_else() {
        let cases = [
            basic("operator:wrong"),
            basic("other:s3cret"),
            basic("operator:"),
            basic("operator"),
            basic("operator:s3cret\u{0}"),
            basic("öperator:s3cret"),
            "Bearer abc".into(),
            "Basic".into(),
            "Basic !!!notbase64".into(),
            format!("Digest {}", &basic("operator:s3cret")[6..]),
            String::new(),
        ];
        for value in cases {
            assert!(
                matches!(
                    require_operator(&with_auth(&value), &operator()),
                    Err(ApiError::Unauthorized)
                ),
                "{value:?}"
            );
        }
        let no_header = lambda_http::http::Request::builder()
            .body(lambda_http::Body::Empty)
            .unwrap();
        assert!(require_operator(&no_header, &operator()).is_err());
    }
}
