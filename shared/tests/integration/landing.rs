//! GET / (the operator's page) through real lambda_http requests.

use crate::support::*;
use base64::Engine;
use lambda_http::{Body, Response};
use masked_comms::handlers::landing::{self, page};
use masked_comms::session::lookup::PoolNumberUse;
use sha2::{Digest, Sha256};

const HOSTILE: &str = r#"<script>alert(1)</script>"'&"#;
const HOSTILE_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;";

async fn get(h: &Harness, path: &str, auth: Option<&str>) -> Response<Body> {
    landing::handle(&h.state, request("GET", path, None, "", auth)).await
}

async fn page_as_operator(h: &Harness, path: &str) -> Response<Body> {
    let response = get(h, path, Some(&basic(USERNAME, PASSWORD))).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    response
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The text of every `<tag>…</tag>` element (no attributes expected).
fn elements<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close).expect("element is closed");
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

fn sha256_source(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The sources of one CSP directive.
fn directive<'a>(csp: &'a str, name: &str) -> Vec<&'a str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|r| r.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {name} in {csp}"))
        .split_whitespace()
        .collect()
}

/// Values of `attr="…"` on every `<tag …>` start tag.
fn attribute_values(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let open = format!("<{tag} ");
    let needle = format!(" {attr}=\"");
    html.match_indices(&open)
        .filter_map(|(at, _)| {
            let tag_text = &html[at..at + html[at..].find('>').unwrap()];
            let start = tag_text.find(&needle)? + needle.len();
            let len = tag_text[start..].find('"').unwrap();
            Some(tag_text[start..start + len].to_owned())
        })
        .collect()
}

/// Every `<tag …>` start tag, whole.
fn start_tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    html.match_indices(&open)
        .map(|(at, _)| &html[at..=at + html[at..].find('>').unwrap()])
        .collect()
}

/// The value of `name="…"` in one start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    Some(&tag[start..start + tag[start..].find('"')?])
}

#[tokio::test]
async fn requires_the_operators_credentials() {
    let h = Harness::start().await;
    for auth in [
        None,
        Some(basic(USERNAME, "wrong password")),
        Some(basic("someone", PASSWORD)),
    ] {
        let response = get(&h, "/", auth.as_deref()).await;
        assert_eq!(response.status(), 401);
        assert!(
            header(&response, "www-authenticate").starts_with(r#"Basic realm="masked-comms""#),
            "{:?}",
            response.headers()
        );
        assert_eq!(body_json(&response)["error"]["code"], "unauthorized");
        assert!(!body_text(&response).contains("+1500555"));
    }
    assert_eq!(h.requests_made(), 0, "the page never calls Twilio");
}

#[tokio::test]
async fn lists_every_pool_number() {
    let pool = [
        "+15005550001",
        "+15005550002",
        "+15005550003",
        "+447700900001",
    ];
    let h = Harness::with(&pool, &[]).await;
    let html = body_text(&page_as_operator(&h, "/").await);
    for number in pool {
        assert!(
            html.contains(&format!("<li><code>{number}</code></li>")),
            "{number} missing"
        );
    }
    assert!(html.contains("4 Twilio numbers"));
    assert_eq!(h.requests_made(), 0);
}

#[tokio::test]
async fn is_a_self_contained_accessible_page() {
    let h = Harness::start().await;
    let html = body_text(&page_as_operator(&h, "/").await);
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    // No external assets: one inline script, one inline style, nothing else.
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(html.matches("<style").count(), 1);
    for pattern in [
        " src=",
        "http://",
        "https://",
        " style=",
        " onclick=",
        " onsubmit=",
        "<link rel=\"stylesheet\"",
    ] {
        assert!(!html.contains(pattern), "page contains {pattern:?}");
    }
    // Every input has a label, and every label points at an input.
    let inputs = attribute_values(&html, "input", "id");
    let labels = attribute_values(&html, "label", "for");
    assert!(inputs.len() >= 6, "{inputs:?}");
    let mut sorted_inputs = inputs.clone();
    let mut sorted_labels = labels.clone();
    sorted_inputs.sort();
    sorted_labels.sort();
    assert_eq!(sorted_inputs, sorted_labels);
    // Each field's error slot is announced with it: its own, or its
    // group's for the capability checkboxes (one choice, one message).
    for input in start_tags(&html, "input") {
        let id = attribute(input, "id").expect("every input has an id");
        let slot = match attribute(input, "name") {
            Some("capabilities") => "capabilities-error".to_owned(),
            _ => format!("{id}-error"),
        };
        let described = attribute(input, "aria-describedby").unwrap_or_default();
        assert!(
            described.split(' ').any(|r| r == slot),
            "{id} does not announce {slot}"
        );
        assert!(html.contains(&format!("id=\"{slot}\"")), "no {slot}");
    }
    // The form starts with two participant rows and the lifecycle controls.
    assert!(inputs.contains(&"address-0".into()) && inputs.contains(&"address-1".into()));
    assert!(!inputs.contains(&"address-2".into()));
    assert!(html.contains(r#"id="lookup-form""#));
    assert!(html.contains(r#"data-max="50""#));
}

#[tokio::test]
async fn sends_security_headers() {
    let h = Harness::start().await;
    let response = page_as_operator(&h, "/").await;
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    let csp = header(&response, "content-security-policy");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(directive(csp, "default-src"), ["'none'"]);
    assert_eq!(directive(csp, "connect-src"), ["'self'"]);
    assert_eq!(directive(csp, "form-action"), ["'self'"]);
    assert_eq!(directive(csp, "base-uri"), ["'none'"]);
    assert_eq!(directive(csp, "frame-ancestors"), ["'none'"]);
}

#[tokio::test]
async fn csp_hashes_match_the_inline_script_and_style() {
    let h = Harness::start().await;
    let response = page_as_operator(&h, "/").await;
    let csp = header(&response, "content-security-policy").to_owned();
    let html = body_text(&response);
    let scripts = elements(&html, "script");
    let styles = elements(&html, "style");
    assert_eq!((scripts.len(), styles.len()), (1, 1));
    assert!(scripts[0].len() > 1000 && styles[0].len() > 500);
    assert_eq!(directive(&csp, "script-src"), [sha256_source(scripts[0])]);
    assert_eq!(directive(&csp, "style-src"), [sha256_source(styles[0])]);
    // Same as served from the embedded files.
    assert_eq!(scripts[0], page::SCRIPT);
    assert_eq!(styles[0], page::STYLE);
}

#[tokio::test]
async fn prefills_the_form_from_the_query_escaped() {
    let h = Harness::start().await;
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("address", "+14155550101")
        .append_pair("address", HOSTILE)
        .append_pair("address", "whatsapp:+447700900123")
        .append_pair("friendlyName", HOSTILE)
        .append_pair("timers.inactive", "PT1H")
        .append_pair("timers.closed", HOSTILE)
        .finish();
    let html = body_text(&page_as_operator(&h, &format!("/?{query}")).await);
    assert!(!html.contains("<script>alert"), "raw tag in the page");
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(
        html.matches(HOSTILE_ESCAPED).count(),
        3,
        "address, name, closed timer"
    );
    assert!(html.contains(r#"id="address-0" name="address" value="+14155550101""#));
    assert!(html.contains(r#"value="whatsapp:+447700900123""#));
    assert!(html.contains(r#"id="address-2""#) && !html.contains(r#"id="address-3""#));
    assert!(html.contains(r#"value="PT1H""#));
}

#[test]
fn the_template_escapes_hostile_values() {
    let prefill = page::Prefill {
        addresses: vec![HOSTILE.into(), "+14155550101".into()],
        friendly_name: Some(HOSTILE.into()),
        inactive: Some(HOSTILE.into()),
        closed: Some(HOSTILE.into()),
    };
    let html = page::render(&page::PageView {
        pool: &[PoolNumberUse {
            number: "+15005550001".into(),
            in_use: Some(2),
        }],
        prefill: &prefill,
    })
    .into_string();
    assert!(!html.contains("<script>alert(1)"));
    assert!(!html.contains(r#""'&"#), "an attribute value broke out");
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(html.matches(HOSTILE_ESCAPED).count(), 4);
    // The only script is the page's own.
    assert_eq!(elements(&html, "script"), [page::SCRIPT]);
}

#[tokio::test]
async fn other_paths_and_methods_are_json_errors() {
    let h = Harness::start().await;
    let operator = basic(USERNAME, PASSWORD);
    for path in ["/index.html", "/sessions", "/favicon.ico"] {
        let response = get(&h, path, Some(&operator)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(body_json(&response)["error"]["code"], "not_found");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response =
            landing::handle(&h.state, request(method, "/", None, "", Some(&operator))).await;
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), "GET");
        assert_eq!(body_json(&response)["error"]["code"], "method_not_allowed");
    }
}

/// The hash form of CSP source expressions, against the example in the CSP
/// specification (Level 2, "hash-source"): the policy's hashes are only as
/// good as this function.
#[test]
fn csp_hashes_follow_the_specifications_example() {
    assert_eq!(
        landing::csp_hash("alert('Hello, world.');"),
        "sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng="
    );
}

/// What the page's chart reads without an index: every number, and the
/// word that nothing was counted (so the page says so instead of drawing
/// zeros).
#[tokio::test]
async fn pool_without_an_index_says_nothing_was_counted() {
    let h = Harness::start().await;
    let response = page_as_operator(&h, "/pool").await;
    assert_eq!(header(&response, "content-type"), "application/json");
    let body = body_json(&response);
    assert_eq!(body["counted"], false);
    let pool = body["pool"].as_array().unwrap();
    assert_eq!(pool.len(), POOL.len());
    for (entry, number) in pool.iter().zip(POOL) {
        assert_eq!(entry["number"], number);
        assert!(entry["in_use"].is_null(), "{entry}");
    }
    assert_eq!(h.requests_made(), 0, "counting never asks Twilio");
}
