//! The emulator's answers checked against Twilio's own OpenAPI description (twilio-oai, as
//! shipped in the npm package `@twilio-alpha/mcp` that `contract/` pins).
//!
//! The emulator and our client are both ours, so a shape both get wrong would pass every
//! other test. Here every operation masked-comms uses is sent to the emulator with realistic
//! values, and each answer is validated against the description's response schema for that
//! operation and status, made stricter than Twilio writes it:
//!
//! - OpenAPI 3.0's `nullable: true` becomes a JSON Schema type array (`["string", "null"]`);
//! - an object schema with `properties` allows no other key (a misspelt field fails) and
//!   requires every declared one (Twilio renders every field, `null` when unset);
//! - formats are checked (`date-time`, `uri`, and Twilio's `date-time-rfc-2822`), except
//!   that a `uri` field named `uri` or `..._uri` may be relative: in API 2010 those fields
//!   (`uri`, `next_page_uri`, ...) are host-relative paths in every one of Twilio's examples;
//! - fields the description leaves free-form (`timers`, `messaging_binding`, `links`, ...)
//!   may only use keys that Twilio's own examples for that operation use.
//!
//! Needs the description files, which `contract/run.sh` installs (`npm ci`) and then runs
//! this test with `--ignored`. `TWILIO_OPENAPI_DIR` may point elsewhere.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::common::{start, start_with, Client, Reply};
use serde_json::{json, Map, Value};
use twilio_emulator::{EmulatorConfig, TextOutcome};

const CONVERSATIONS_SPEC: &str = "twilio_conversations_v1.json";
const API_SPEC: &str = "twilio_api_v2010.json";

const ALICE: &str = "+14155550101";
const BOB: &str = "+447700900123";
const WHATSAPP_CAROL: &str = "whatsapp:+14155550103";
const PROXY: &str = "+14155550000";
const WHATSAPP_PROXY: &str = "whatsapp:+14155550000";
const MESSAGING_SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

fn spec_dir() -> PathBuf {
    match std::env::var_os("TWILIO_OPENAPI_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../contract/node_modules/@twilio-alpha/mcp/twilio-oai/spec/json"),
    }
}

fn load_spec(name: &str) -> Value {
    let path = spec_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read Twilio's OpenAPI description {} ({e}); run contract/run.sh, which \
             installs it (npm ci in contract/) and runs this test",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Resolves a local `$ref` (`#/components/schemas/x`) within `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local $refs are expected, got {reference}"));
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

/// Inlines `$ref`s and drops OpenAPI-only keywords, without other changes.
fn inline(schema: &Value, root: &Value, depth: usize) -> Value {
    assert!(depth < 32, "$ref cycle in the description");
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                // OpenAPI 3.0 ignores a $ref's siblings.
                return inline(resolve(root, reference), root, depth + 1);
            }
            map.iter()
                .filter(|(k, _)| !k.starts_with("x-") && *k != "example" && *k != "description")
                .map(|(k, v)| (k.clone(), inline(v, root, depth + 1)))
                .collect::<Map<_, _>>()
                .into()
        }
        Value::Array(items) => items.iter().map(|v| inline(v, root, depth + 1)).collect(),
        other => other.clone(),
    }
}

/// An inlined OpenAPI 3.0 schema as strict JSON Schema (see the module comment).
fn strict_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .expect("properties is an object")
                    .iter()
                    .map(|(k, v)| {
                        let mut v = strict_json_schema(v);
                        let uri_field = k == "uri" || k.ends_with("_uri");
                        if uri_field && v.get("format") == Some(&json!("uri")) {
                            v["format"] = json!("uri-reference");
                        }
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => strict_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => value
                .as_array()
                .expect("a list of schemas")
                .iter()
                .map(strict_json_schema)
                .collect(),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if out.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type") {
            let t = t.clone();
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    if let Some(Value::Object(properties)) = out.get("properties") {
        let names: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
        out.entry("required").or_insert(Value::Array(names));
        out.entry("additionalProperties")
            .or_insert(Value::Bool(false));
    }
    Value::Object(out)
}

/// `Tue, 31 Aug 2010 20:36:28 +0000`, as Twilio's 2010 API writes dates.
fn is_rfc2822(text: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split(' ').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let [day, date, month, year, time, zone] = parts.as_slice() else {
        return false;
    };
    let hms: Vec<&str> = time.split(':').collect();
    day.strip_suffix(',').is_some_and(|d| DAYS.contains(&d))
        && digits(date, 2)
        && MONTHS.contains(month)
        && digits(year, 4)
        && hms.len() == 3
        && hms.iter().all(|p| digits(p, 2))
        && *zone == "+0000"
}

/// One description file and the operations in it.
struct Description {
    name: &'static str,
    root: Value,
}

/// The description's view of one answer: which operation, which response.
struct Operation<'a> {
    id: String,
    response: &'a Value,
}

impl Description {
    fn load(name: &'static str) -> Self {
        Self {
            name,
            root: load_spec(name),
        }
    }

    /// The operation whose path template matches `path`, preferring literal segments.
    fn operation(&self, method: &str, path: &str, status: u16) -> Result<Operation<'_>, String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.root["paths"].as_object().expect("paths");
        let (template, item) = paths
            .iter()
            .filter_map(|(template, item)| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    // `{Sid}` or, in API 2010, `{Sid}.json`.
                    if let Some(rest) = part.strip_prefix('{') {
                        let suffix = rest.split_once('}').map_or("", |(_, s)| s);
                        if segment.len() > suffix.len() && segment.ends_with(suffix) {
                            continue;
                        }
                        return None;
                    }
                    if part != segment {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, template, item))
            })
            .max_by_key(|(literal, _, _)| *literal)
            .map(|(_, template, item)| (template, item))
            .ok_or_else(|| format!("{}: no path matches {path}", self.name))?;
        let op = item
            .get(method.to_ascii_lowercase())
            .ok_or_else(|| format!("{}: {template} has no {method}", self.name))?;
        let id = op["operationId"].as_str().unwrap_or(template).to_owned();
        let response = op["responses"].get(status.to_string()).ok_or_else(|| {
            format!(
                "{id}: the description has no {status} response (it has {:?})",
                op["responses"]
                    .as_object()
                    .map(|r| r.keys().collect::<Vec<_>>())
            )
        })?;
        Ok(Operation { id, response })
    }
}

/// Keys of free-form objects (no declared `properties`) must appear in Twilio's examples.
fn check_free_form(
    schema: &Value,
    instance: &Value,
    examples: &[&Value],
    at: &str,
    errors: &mut Vec<String>,
) {
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        instance.as_object(),
    ) {
        for (key, value) in object {
            if let Some(sub) = properties.get(key) {
                let sub_examples: Vec<&Value> =
                    examples.iter().filter_map(|e| e.get(key)).collect();
                check_free_form(sub, value, &sub_examples, &format!("{at}/{key}"), errors);
            }
        }
        return;
    }
    if let (Some(items), Some(array)) = (schema.get("items"), instance.as_array()) {
        let item_examples: Vec<&Value> = examples
            .iter()
            .filter_map(|e| e.as_array())
            .flatten()
            .collect();
        for (i, value) in array.iter().enumerate() {
            check_free_form(items, value, &item_examples, &format!("{at}/{i}"), errors);
        }
        return;
    }
    let Some(object) = instance.as_object() else {
        return;
    };
    let known: BTreeSet<&str> = examples
        .iter()
        .filter_map(|e| e.as_object())
        .flat_map(|e| e.keys().map(String::as_str))
        .collect();
    if known.is_empty() {
        return; // No example shows this object: nothing to compare with.
    }
    for key in object.keys() {
        if !known.contains(key.as_str()) {
            errors.push(format!(
                "{at}: key {key:?} appears in no Twilio example (they use {known:?})"
            ));
        }
    }
}

/// Validates emulator answers and collects every mismatch, so one run shows them all.
struct Checker {
    conversations: Description,
    api: Description,
    checked: Vec<String>,
    errors: Vec<String>,
}

impl Checker {
    fn new() -> Self {
        Self {
            conversations: Description::load(CONVERSATIONS_SPEC),
            api: Description::load(API_SPEC),
            checked: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Checks one answer of the emulator against the description.
    fn check(&mut self, method: &str, path_and_query: &str, reply: &Reply) {
        let content_type = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (label, errors) = self.mismatches(
            method,
            path_and_query,
            reply.status,
            content_type,
            &reply.text,
        );
        self.errors
            .extend(errors.into_iter().map(|e| format!("{label}: {e}")));
        self.checked.push(label);
    }

    /// How an answer differs from the description, under a label naming the operation.
    fn mismatches(
        &self,
        method: &str,
        path_and_query: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> (String, Vec<String>) {
        // A followed `next_page_url` is absolute.
        let relative = match path_and_query.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => path_and_query,
        };
        let path = relative.split('?').next().unwrap_or_default();
        let description = if path.starts_with("/2010-04-01/") {
            &self.api
        } else {
            &self.conversations
        };
        let label = format!("{method} {path} -> {status}");
        let operation = match description.operation(method, path, status) {
            Ok(op) => op,
            Err(e) => return (label, vec![format!("{e}; body {body}")]),
        };
        let label = format!("{} ({label})", operation.id);
        let errors = match operation.response.get("content") {
            None if body.is_empty() => Vec::new(),
            None => vec![format!("expected no body, got {body}")],
            Some(content) => {
                let media = content_type.split(';').next().unwrap_or_default().trim();
                match content.get(media) {
                    None => vec![format!(
                        "content type {content_type:?} is not one of {:?}",
                        content.as_object().map(|c| c.keys().collect::<Vec<_>>())
                    )],
                    Some(media) => validate(&description.root, media, body),
                }
            }
        };
        (label, errors)
    }

    /// Sends a request to the emulator, expects `status`, and checks the answer.
    async fn post(
        &mut self,
        client: &Client,
        path: &str,
        form: &[(&str, &str)],
        status: u16,
    ) -> Value {
        let reply = client.post(path, form).await;
        self.expect(&reply, "POST", path, status)
    }

    async fn get(&mut self, client: &Client, path_and_query: &str) -> Value {
        let reply = client.get(path_and_query).await;
        self.expect(&reply, "GET", path_and_query, 200)
    }

    async fn delete(&mut self, client: &Client, path: &str) {
        let reply = client.delete(path).await;
        self.expect(&reply, "DELETE", path, 204);
    }

    fn expect(&mut self, reply: &Reply, method: &str, path: &str, status: u16) -> Value {
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
        self.check(method, path, reply);
        if reply.text.is_empty() {
            Value::Null
        } else {
            reply.json()
        }
    }

    fn finish(self) {
        assert!(
            self.errors.is_empty(),
            "the emulator's answers do not match Twilio's OpenAPI description:\n  {}",
            self.errors.join("\n  ")
        );
        eprintln!(
            "{} answers match the description:\n  {}",
            self.checked.len(),
            self.checked.join("\n  ")
        );
    }
}

/// Validates a JSON body against one media type entry (`schema` + `examples`).
fn validate(root: &Value, media: &Value, body: &str) -> Vec<String> {
    let instance: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("body is not JSON ({e}): {body}")],
    };
    let inlined = inline(&media["schema"], root, 0);
    let schema = strict_json_schema(&inlined);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_format("date-time-rfc-2822", is_rfc2822)
        .build(&schema)
        .expect("the transformed schema compiles");
    let mut errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    let examples: Vec<&Value> = media["examples"]
        .as_object()
        .into_iter()
        .flat_map(|e| e.values())
        .filter_map(|e| e.get("value"))
        .collect();
    check_free_form(&inlined, &instance, &examples, "", &mut errors);
    errors
}

#[test]
fn description_transform_is_strict() {
    // The checker itself: nullable, strictness, formats and free-form keys.
    let root = json!({"components": {"schemas": {
        "state": {"type": "string", "enum": ["active", "closed"]},
        "thing": {"type": "object", "properties": {
            "sid": {"type": "string", "nullable": true, "pattern": "^CH"},
            "state": {"$ref": "#/components/schemas/state"},
            "when": {"type": "string", "format": "date-time-rfc-2822", "nullable": true},
            "timers": {"nullable": true},
        }},
    }}});
    let media = json!({
        "schema": {"$ref": "#/components/schemas/thing"},
        "examples": {"one": {"value": {"timers": {"date_closed": "x"}}}},
    });
    let good = r#"{"sid": null, "state": "active", "when": "Tue, 31 Aug 2010 20:36:28 +0000",
                   "timers": {"date_closed": "2015-12-16T22:18:37Z"}}"#;
    assert_eq!(validate(&root, &media, good), Vec::<String>::new());
    for bad in [
        r#"{"sid": "XX1", "state": "active", "when": null, "timers": null}"#,
        r#"{"sid": null, "state": "initializing", "when": null, "timers": null}"#,
        r#"{"sid": null, "state": "active", "when": "2010-08-31T20:36:28Z", "timers": null}"#,
        r#"{"sid": null, "state": "active", "when": null, "timers": {"closed": "x"}}"#,
        r#"{"sid": null, "state": "active", "when": null}"#,
        r#"{"sid": null, "state": "active", "when": null, "timers": null, "extra": 1}"#,
    ] {
        assert!(!validate(&root, &media, bad).is_empty(), "accepted: {bad}");
    }
}

/// The checker bites under the real description: an emulator answer that is right passes,
/// and each kind of wrong shape is reported.
#[tokio::test]
#[ignore = "needs Twilio's OpenAPI description: run contract/run.sh"]
async fn checker_rejects_wrong_shapes_under_the_real_description() {
    let checker = Checker::new();
    let (_emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    let path = format!("/v1/Conversations/{sid}/Participants");
    let reply = client.add_participant(&sid, ALICE, PROXY).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let good = reply.json();
    let errors = |body: &Value| {
        checker
            .mismatches("POST", &path, 201, "application/json", &body.to_string())
            .1
    };
    assert_eq!(errors(&good), Vec::<String>::new());

    let mut wrong: Vec<(&str, Value)> = Vec::new();
    let mut v = good.clone();
    let binding = v["messaging_binding"].as_object_mut().unwrap();
    let proxy = binding.remove("proxy_address").unwrap();
    binding.insert("proxyAddress".into(), proxy);
    wrong.push(("a misspelt key in a free-form object", v));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("role_sid");
    wrong.push(("a missing field", v));
    let mut v = good.clone();
    v["roleSid"] = Value::Null;
    wrong.push(("an undeclared field", v));
    let mut v = good.clone();
    v["date_created"] = json!("2015-12-16 22:18:37");
    wrong.push(("a date that is not date-time", v));
    let mut v = good.clone();
    v["sid"] = json!("PA0123456789abcdef0123456789abcdef");
    wrong.push(("a sid with the wrong prefix", v));
    let mut v = good.clone();
    v["last_read_message_index"] = json!("3");
    wrong.push(("a string where an integer is declared", v));
    for (what, body) in wrong {
        assert!(!errors(&body).is_empty(), "{what} was accepted: {body}");
    }
    assert!(!checker
        .mismatches("POST", &path, 200, "application/json", &good.to_string())
        .1
        .is_empty());
    assert!(!checker
        .mismatches("POST", &path, 201, "text/html", &good.to_string())
        .1
        .is_empty());
    assert!(!checker
        .mismatches("DELETE", &format!("/v1/Conversations/{sid}"), 204, "", "{}")
        .1
        .is_empty());
    // `{Sid}.json` in a path template needs the `.json`.
    let numbers = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/IncomingPhoneNumbers";
    let no_path = checker
        .mismatches(
            "GET",
            &format!("{numbers}/PN0123"),
            200,
            "application/json",
            "{}",
        )
        .1;
    assert!(
        no_path.iter().any(|e| e.contains("no path matches")),
        "{no_path:?}"
    );
}

#[tokio::test]
#[ignore = "needs Twilio's OpenAPI description: run contract/run.sh"]
async fn emulator_answers_match_twilio_openapi_description() {
    let mut checker = Checker::new();
    let (emulator, client) = start_with(EmulatorConfig {
        numbers: vec![PROXY.into(), "+14155550001".into(), "+447700900000".into()],
        ..EmulatorConfig::default()
    })
    .await;
    let account = emulator.account_sid().to_owned();

    // Create, with every parameter masked-comms sends, and with none.
    let attributes = r#"{"masked-comms":{"v":1,"request":"r-1"},"order":42}"#;
    let created = checker
        .post(
            &client,
            "/v1/Conversations",
            &[
                ("FriendlyName", "Order 42"),
                ("UniqueName", "mc-order 42"),
                ("Attributes", attributes),
                ("MessagingServiceSid", MESSAGING_SERVICE),
                ("State", "active"),
                ("Timers.Inactive", "PT1H"),
                ("Timers.Closed", "P1D"),
            ],
            201,
        )
        .await;
    let sid = created["sid"].as_str().unwrap().to_owned();
    let bare = checker.post(&client, "/v1/Conversations", &[], 201).await;
    let bare_sid = bare["sid"].as_str().unwrap().to_owned();

    // Fetch by sid and by unique name.
    checker
        .get(&client, &format!("/v1/Conversations/{sid}"))
        .await;
    checker
        .get(&client, "/v1/Conversations/mc-order%2042")
        .await;

    // Updates: attributes alone, every parameter, a state change.
    let conversation = format!("/v1/Conversations/{sid}");
    checker
        .post(
            &client,
            &conversation,
            &[("Attributes", r#"{"order":43}"#)],
            200,
        )
        .await;
    checker
        .post(
            &client,
            &conversation,
            &[
                ("FriendlyName", "Order 42 (moved)"),
                ("UniqueName", "mc-order-42"),
                ("Attributes", attributes),
                ("MessagingServiceSid", MESSAGING_SERVICE),
                ("State", "inactive"),
                ("Timers.Inactive", "PT5M"),
                ("Timers.Closed", "PT10M"),
            ],
            200,
        )
        .await;

    // Participants: SMS (US and UK numbers) and WhatsApp.
    let participants = format!("{conversation}/Participants");
    for (address, proxy) in [
        (ALICE, PROXY),
        (BOB, PROXY),
        (WHATSAPP_CAROL, WHATSAPP_PROXY),
    ] {
        checker
            .post(
                &client,
                &participants,
                &[
                    ("MessagingBinding.Address", address),
                    ("MessagingBinding.ProxyAddress", proxy),
                ],
                201,
            )
            .await;
    }
    let bare_participant = checker
        .post(
            &client,
            &format!("/v1/Conversations/{bare_sid}/Participants"),
            &[
                ("MessagingBinding.Address", ALICE),
                ("MessagingBinding.ProxyAddress", "+14155550001"),
            ],
            201,
        )
        .await;
    let bare_participant = format!(
        "/v1/Conversations/{bare_sid}/Participants/{}",
        bare_participant["sid"].as_str().unwrap()
    );
    checker.get(&client, &bare_participant).await;

    // Messages: two inbound texts on that binding, listed whole and a page at a time.
    for body in ["On my way", "Running 5 minutes late"] {
        let outcome = emulator
            .send_message(ALICE, "+14155550001", body)
            .await
            .unwrap();
        assert!(matches!(outcome, TextOutcome::Added { .. }), "{outcome:?}");
    }
    let messages = format!("/v1/Conversations/{bare_sid}/Messages");
    checker.get(&client, &messages).await;
    let page = checker
        .get(&client, &format!("{messages}?Order=desc&PageSize=1"))
        .await;
    let next = page["meta"]["next_page_url"].as_str().expect("a next page");
    checker.get(&client, next).await;

    // Lists, with paging: a first page with a next page, then the page it points to.
    let page = checker
        .get(&client, &format!("{participants}?PageSize=2"))
        .await;
    let next = page["meta"]["next_page_url"].as_str().expect("a next page");
    checker.get(&client, next).await;
    checker
        .get(&client, &format!("{participants}?PageSize=100"))
        .await;

    let by_address = "/v1/ParticipantConversations?Address=%2B14155550101";
    let page = checker
        .get(&client, &format!("{by_address}&PageSize=1"))
        .await;
    let next = page["meta"]["next_page_url"].as_str().expect("a next page");
    checker.get(&client, next).await;
    checker
        .get(&client, &format!("{by_address}&PageSize=50"))
        .await;
    checker
        .get(
            &client,
            "/v1/ParticipantConversations?Address=whatsapp%3A%2B14155550103&PageSize=50",
        )
        .await;

    // Close (final), then the closed conversation as its participants see it.
    checker
        .post(&client, &conversation, &[("State", "closed")], 200)
        .await;
    let closed = checker
        .get(&client, &format!("{by_address}&PageSize=50"))
        .await;
    assert!(
        closed["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["conversation_state"] == "closed"),
        "{closed}"
    );

    // An outbound call with inline TwiML.
    let twiml = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="Polly.Amy" language="en-GB">Connecting you now.</Say><Dial callerId="+14155550000"><Conference endConferenceOnExit="true">CH0123</Conference></Dial></Response>"#;
    checker
        .post(
            &client,
            &format!("/2010-04-01/Accounts/{account}/Calls.json"),
            &[("To", ALICE), ("From", PROXY), ("Twiml", twiml)],
            201,
        )
        .await;

    // The account's Conversations defaults (twilio-setup reads the default service).
    let defaults = checker.get(&client, "/v1/Configuration").await;
    assert_eq!(
        defaults["default_chat_service_sid"],
        emulator.chat_service_sid()
    );
    // Address Configurations: made, then listed.
    checker
        .post(
            &client,
            "/v1/Configuration/Addresses",
            &[
                ("Type", "sms"),
                ("Address", PROXY),
                ("FriendlyName", "pool"),
                ("AutoCreation.Enabled", "true"),
                ("AutoCreation.Type", "default"),
            ],
            201,
        )
        .await;
    checker.get(&client, "/v1/Configuration/Addresses").await;
    // Messages from the backend: a text with media from a number, and a WhatsApp template.
    checker
        .post(
            &client,
            &format!("/2010-04-01/Accounts/{account}/Messages.json"),
            &[
                ("To", ALICE),
                ("From", PROXY),
                ("Body", "Your courier is 2 minutes away"),
                ("MediaUrl", "https://example.com/map.png"),
            ],
            201,
        )
        .await;
    checker
        .post(
            &client,
            &format!("/2010-04-01/Accounts/{account}/Messages.json"),
            &[
                ("To", WHATSAPP_CAROL),
                ("From", WHATSAPP_PROXY),
                ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
                ("ContentVariables", r#"{"1":"Ada"}"#),
            ],
            201,
        )
        .await;
    // Conversations webhook configuration: account-wide and the service's, before and
    // after an update with every parameter.
    checker.get(&client, "/v1/Configuration/Webhooks").await;
    checker
        .post(
            &client,
            "/v1/Configuration/Webhooks",
            &[
                ("Method", "POST"),
                ("Filters", "onMessageAdd"),
                ("Filters", "onConversationStateUpdated"),
                ("PreWebhookUrl", "https://example.com/pre"),
                ("PostWebhookUrl", "https://example.com/post"),
                ("Target", "webhook"),
            ],
            200,
        )
        .await;
    checker.get(&client, "/v1/Configuration/Webhooks").await;
    let service_webhooks = format!(
        "/v1/Services/{}/Configuration/Webhooks",
        emulator.chat_service_sid()
    );
    checker.get(&client, &service_webhooks).await;
    checker
        .post(
            &client,
            &service_webhooks,
            &[
                ("Method", "GET"),
                ("Filters", "onMessageAdded"),
                ("PreWebhookUrl", "https://example.com/service-pre"),
                ("PostWebhookUrl", "https://example.com/service-post"),
            ],
            200,
        )
        .await;

    // Phone numbers: the list (filtered, paged), one number, an update of everything
    // masked-comms configures, and clearing it again.
    let numbers = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json");
    checker.get(&client, &numbers).await;
    let page = checker.get(&client, &format!("{numbers}?PageSize=1")).await;
    let next = page["next_page_uri"].as_str().expect("a next page");
    checker.get(&client, next).await;
    let found = checker
        .get(&client, &format!("{numbers}?PhoneNumber=%2B14155550000"))
        .await;
    let number = format!(
        "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{}.json",
        found["incoming_phone_numbers"][0]["sid"].as_str().unwrap()
    );
    checker.get(&client, &number).await;
    checker
        .post(
            &client,
            &number,
            &[
                ("VoiceUrl", "https://example.com/inbound-call"),
                ("VoiceMethod", "POST"),
                ("VoiceFallbackUrl", "https://example.com/fallback"),
                ("StatusCallback", "https://example.com/call-status"),
                ("SmsUrl", "https://example.com/sms"),
                ("SmsMethod", "POST"),
                ("VoiceApplicationSid", "AP0123456789abcdef0123456789abcdef"),
                ("SmsApplicationSid", "AP0123456789abcdef0123456789abcdef"),
                ("FriendlyName", "masked-comms pool"),
            ],
            200,
        )
        .await;
    checker
        .post(
            &client,
            &number,
            &[("VoiceApplicationSid", ""), ("SmsApplicationSid", "")],
            200,
        )
        .await;

    // A call with every callback and recording parameter; ended, it leaves a recording.
    // Its callbacks go to a closed loopback port: refused at once, nothing leaves the host.
    let recorded = checker
        .post(
            &client,
            &format!("/2010-04-01/Accounts/{account}/Calls.json"),
            &[
                ("To", ALICE),
                ("From", PROXY),
                ("Url", "https://example.com/twiml"),
                ("StatusCallback", "http://127.0.0.1:9/call-status"),
                ("StatusCallbackEvent", "initiated"),
                ("StatusCallbackEvent", "completed"),
                ("StatusCallbackMethod", "POST"),
                ("Record", "true"),
                ("RecordingChannels", "dual"),
                ("RecordingStatusCallback", "http://127.0.0.1:9/recording"),
                ("RecordingStatusCallbackEvent", "completed"),
                ("Timeout", "30"),
            ],
            201,
        )
        .await;
    emulator
        .complete_call(recorded["sid"].as_str().unwrap(), Duration::from_secs(12))
        .await
        .unwrap();
    let recording = format!(
        "/2010-04-01/Accounts/{account}/Recordings/{}.json",
        emulator.recordings()[0].sid
    );
    checker.get(&client, &recording).await;
    checker.delete(&client, &recording).await;

    checker.delete(&client, &bare_participant).await;
    checker.delete(&client, &conversation).await;
    checker
        .delete(&client, &format!("/v1/Conversations/{bare_sid}"))
        .await;

    drop(emulator);
    checker.finish();
}
