//! Twilio's webhook signature (`X-Twilio-Signature`): HMAC-SHA1 keyed by the
//! auth token over the URL Twilio requested plus the sorted POST parameters.

use base64::Engine;
use hmac::{Hmac, Mac};
use lambda_http::Request;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The signature Twilio sends for `url` and form `params`. A repeated name
/// contributes each of its distinct values, sorted, as Twilio's libraries do.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL as given, without any port, and with the scheme's default port:
/// Twilio's libraries accept a signature over any of these (they strip a
/// non-default port too, as Twilio has at times signed URLs without it).
pub fn url_variants(url: &str) -> Vec<String> {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return vec![url.to_owned()];
    };
    let default_port = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return vec![url.to_owned()],
    };
    // `url` drops a default port when it parses; drop any other one here.
    if parsed.set_port(None).is_err() {
        return vec![url.to_owned()];
    }
    let without = parsed.to_string();
    let with = format!(
        "{}:{default_port}{}",
        &parsed[..url::Position::AfterHost],
        &parsed[url::Position::BeforePath..]
    );
    let mut variants = vec![url.to_owned(), without, with];
    variants.sort();
    variants.dedup();
    variants
}

/// Checks a signature in constant time against every accepted form of `url`.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    url_variants(url).iter().fold(false, |matched, candidate| {
        let expected = compute(auth_token, candidate, params);
        matched | bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no X-Twilio-Signature")]
    Missing,
    #[error("the X-Twilio-Signature does not match")]
    Mismatch,
    #[error("the URL's bodySHA256 does not match the body")]
    BodyHashMismatch,
}

/// The URL Twilio requested: the base URL it was addressed to (see
/// [`super::origin::base_url`]) and the path with its query.
pub fn requested_url(req: &Request, public_base_url: Option<&url::Url>) -> String {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    format!(
        "{}{path_and_query}",
        super::origin::base_url(req, public_base_url)
    )
}

/// Verifies a webhook: form parameters for form bodies, or the `bodySHA256`
/// query parameter for JSON bodies.
pub fn verify_request(
    req: &Request,
    auth_token: &str,
    public_base_url: Option<&url::Url>,
    form: &[(String, String)],
    body: &[u8],
) -> Result<(), SignatureError> {
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Missing)?;
    let url = requested_url(req, public_base_url);
    let body_hash = url::Url::parse(&url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
    });
    match body_hash {
        Some(expected) => {
            if !verify(auth_token, &url, &[], signature) {
                return Err(SignatureError::Mismatch);
            }
            let actual = hex::encode(Sha256::digest(body));
            if bool::from(
                actual
                    .as_bytes()
                    .ct_eq(expected.to_ascii_lowercase().as_bytes()),
            ) {
                Ok(())
            } else {
                Err(SignatureError::BodyHashMismatch)
            }
        }
        None if verify(auth_token, &url, form, signature) => Ok(()),
        None => Err(SignatureError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn call(caller: &str) -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ])
    }

    // Vectors from Twilio's docs and helper libraries (see REFERENCE.md).
    #[test]
    fn matches_published_vectors() {
        assert_eq!(
            compute("12345", URL, &call("+12349013030")),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert_eq!(
            compute("12345", URL, &call("+14158675309")),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            compute(
                "12345",
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &call("+14158675309")
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            compute("12345", URL, &repeated),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn accepts_either_port_form_and_nothing_else() {
        let p = call("+14158675309");
        assert!(verify("12345", URL, &p, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(verify(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &p,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!verify("12345", URL, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify("54321", URL, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!verify("12345", URL, &p, ""));
    }

    #[test]
    fn url_variants_cover_default_ports() {
        assert_eq!(
            url_variants("http://localhost/a?b=1"),
            ["http://localhost/a?b=1", "http://localhost:80/a?b=1"]
        );
        assert_eq!(
            url_variants("http://localhost:9000/a"),
            [
                "http://localhost/a",
                "http://localhost:80/a",
                "http://localhost:9000/a"
            ]
        );
    }

    fn request(url: &str, signature: Option<&str>, body: &str) -> Request {
        let parsed = url::Url::parse(url).unwrap();
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri(&url[url.find(parsed.path()).unwrap()..])
            .header("host", parsed.host_str().unwrap())
            .header("x-forwarded-proto", parsed.scheme());
        if let Some(s) = signature {
            builder = builder.header(SIGNATURE_HEADER, s);
        }
        builder.body(lambda_http::Body::Text(body.into())).unwrap()
    }

    #[test]
    fn verifies_json_bodies_by_hash() {
        let body = r#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("{URL}&bodySHA256={hash}");
        let signed = request(&url, Some("a9nBmqA0ju/hNViExpshrM61xv4="), body);
        assert_eq!(
            verify_request(&signed, "12345", None, &[], body.as_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_request(&signed, "12345", None, &[], b"{}"),
            Err(SignatureError::BodyHashMismatch)
        );
    }

    #[test]
    fn rebuilds_the_url_or_uses_the_public_base() {
        let p = call("+12349013030");
        let req = request(URL, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ="), "");
        assert_eq!(verify_request(&req, "12345", None, &p, b""), Ok(()));
        let missing = request(URL, None, "");
        assert_eq!(
            verify_request(&missing, "12345", None, &p, b""),
            Err(SignatureError::Missing)
        );

        let internal = request(
            "https://abc.execute-api.amazonaws.com/myapp.php?foo=1&bar=2",
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
            "",
        );
        assert_eq!(
            verify_request(&internal, "12345", None, &p, b""),
            Err(SignatureError::Mismatch)
        );
        let base = url::Url::parse("https://mycompany.com").unwrap();
        assert_eq!(
            verify_request(&internal, "12345", Some(&base), &p, b""),
            Ok(())
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// URLs as Twilio would sign them, and arbitrary text.
    fn url() -> impl Strategy<Value = String> {
        let structured = (
            prop_oneof![Just("https"), Just("http")],
            "[a-z][a-z0-9-]{0,12}(\\.[a-z]{2,6}){1,2}",
            prop::option::of(1u16..),
            "(/[A-Za-z0-9._~%-]{0,10}){0,4}",
            prop::option::of("[A-Za-z0-9=&%+._-]{0,30}"),
        )
            .prop_map(|(scheme, host, port, path, query)| {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                format!("{scheme}://{host}{port}{path}{query}")
            });
        prop_oneof![4 => structured, 1 => any::<String>()]
    }

    /// Any text, control characters included (`any::<String>()` avoids them).
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<char>(), 0..16).prop_map(String::from_iter),
        ]
    }

    fn params() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec((text(), text()), 0..10)
    }

    proptest! {
        // Failures print their minimal input; no regression files in the tree.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        #[test]
        fn what_is_computed_verifies_in_any_order(
            token in any::<String>(),
            url in url(),
            shuffled in params().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        ) {
            let (params, reordered) = shuffled;
            let signature = compute(&token, &url, &params);
            prop_assert!(verify(&token, &url, &params, &signature));
            prop_assert!(verify(&token, &url, &reordered, &signature));
        }

        #[test]
        fn any_single_byte_change_fails(
            token in any::<String>(),
            url in url(),
            params in params(),
            at in any::<prop::sample::Index>(),
            replacement in 0u8..128,
        ) {
            let signature = compute(&token, &url, &params);
            let mut bytes = signature.clone().into_bytes();
            let i = at.index(bytes.len());
            prop_assume!(bytes[i] != replacement);
            bytes[i] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(!verify(&token, &url, &params, &changed));
            // Shorter or longer fails too.
            prop_assert!(!verify(&token, &url, &params, &signature[..i]));
            let longer = format!("{signature}=");
            prop_assert!(!verify(&token, &url, &params, &longer));
        }

        #[test]
        fn another_token_or_value_fails(
            token in any::<String>(),
            other in any::<String>(),
            url in url(),
            params in prop::collection::btree_map(text(), text(), 1..8),
            at in any::<prop::sample::Index>(),
            extra in any::<char>(),
        ) {
            let params: Vec<(String, String)> = params.into_iter().collect();
            let signature = compute(&token, &url, &params);
            if other != token {
                prop_assert!(!verify(&other, &url, &params, &signature));
            }
            let mut tampered = params.clone();
            tampered[at.index(params.len())].1.push(extra);
            prop_assert!(!verify(&token, &url, &tampered, &signature));
        }

        /// Signed with or without the default port, either form verifies.
        #[test]
        fn the_default_port_is_optional(
            token in any::<String>(),
            secure in any::<bool>(),
            host in "[a-z]{1,10}\\.[a-z]{2,4}",
            path in "(/[a-z0-9]{1,8}){1,3}",
            query in prop::option::of("[a-z]{1,5}=[0-9]{1,3}"),
            params in prop::collection::btree_map("[A-Za-z]{1,8}", text(), 0..6),
        ) {
            let params: Vec<(String, String)> = params.into_iter().collect();
            let (scheme, port) = if secure { ("https", 443) } else { ("http", 80) };
            let rest = format!("{path}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
            let without = format!("{scheme}://{host}{rest}");
            let with = format!("{scheme}://{host}:{port}{rest}");
            prop_assert!(verify(&token, &with, &params, &compute(&token, &without, &params)));
            prop_assert!(verify(&token, &without, &params, &compute(&token, &with, &params)));
        }
    }
}
