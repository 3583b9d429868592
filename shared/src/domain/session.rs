//! Requests that make or change a masked session, validated before any
//! Twilio call: a new session, and an update to one (`PATCH`).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::address::{Address, PhoneNumber};
use super::capabilities::Capabilities;
use super::duration::{SessionTimer, TimerError};
use super::pool::Pool;
use super::roster::NAMESPACE;
use super::sid::{Sid, SidKind};

/// Twilio allows at most 50 non-chat participants in a conversation.
pub const MAX_PARTICIPANTS: usize = 50;
const MAX_NAME_CHARS: usize = 256;
/// Twilio caps conversation attributes at 16 KiB; the roster needs the rest.
pub const MAX_USER_ATTRIBUTES_BYTES: usize = 8 * 1024;

/// The request in one shape, whichever body it came in.
#[derive(Debug, Default)]
pub struct SessionRequest {
    pub addresses: Vec<String>,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Option<Value>,
    pub messaging_service_sid: Option<String>,
    pub timers: RequestedTimers,
    pub capabilities: Option<Vec<String>>,
    pub record: Option<bool>,
}

/// Timers as the client wrote them (ISO-8601 text), before validation.
#[derive(Debug, Default)]
pub struct RequestedTimers {
    pub inactive: Option<String>,
    pub closed: Option<String>,
}

/// A field the client must correct. The message never repeats the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct InvalidField {
    pub field: String,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Session timers as Twilio takes them (ISO-8601 text), already checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    pub inactive: Option<SessionTimer>,
    pub closed: Option<SessionTimer>,
}

/// A validated session request: safe to send to Twilio.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub participants: Vec<Address>,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Map<String, Value>,
    pub messaging_service_sid: Option<String>,
    pub timers: Timers,
    pub capabilities: Capabilities,
    /// Whether calls are recorded (opt-in).
    pub record: bool,
    /// A participant who must have this pool number (someone who reached
    /// it out of session): no other number is chosen for them.
    pub pinned: Option<(Address, PhoneNumber)>,
}

impl NewSession {
    /// Puts `caller` in the session (if the request left them out) on
    /// `proxy`, the pool number they reached: a number of `pool`, the pool
    /// for the caller's channel. Like every participant, the caller must
    /// not be a number of any of `pools`.
    pub fn pin(
        &mut self,
        caller: Address,
        proxy: PhoneNumber,
        pool: &Pool,
        pools: &[&Pool],
    ) -> Result<(), InvalidField> {
        if pools.iter().any(|p| p.contains(caller.number())) {
            return Err(InvalidField::new(
                "from",
                "is one of the pool's proxy numbers, not a participant",
            ));
        }
        if !pool.contains(&proxy) {
            return Err(InvalidField::new(
                "to",
                "is not in the pool for the caller's channel",
            ));
        }
        if !self.participants.contains(&caller) {
            if self.participants.len() >= MAX_PARTICIPANTS {
                return Err(InvalidField::new(
                    "addresses",
                    format!("has no room for the caller (at most {MAX_PARTICIPANTS})"),
                ));
            }
            self.participants.insert(0, caller.clone());
        }
        self.pinned = Some((caller, proxy));
        Ok(())
    }
}

/// Defaults that config supplies when a request leaves them out.
#[derive(Debug, Clone, Default)]
pub struct SessionDefaults {
    pub inactive_timer: Option<SessionTimer>,
    pub closed_timer: Option<SessionTimer>,
}

impl SessionRequest {
    /// Checks every field against Twilio's rules and our pool.
    pub fn validate(
        self,
        pools: &[&Pool],
        defaults: &SessionDefaults,
    ) -> Result<NewSession, InvalidField> {
        let participants = validate_addresses(&self.addresses, pools)?;
        let friendly_name = validate_name("friendlyName", self.friendly_name)?;
        let unique_name = validate_name("uniqueName", self.unique_name)?;
        let attributes = validate_attributes(self.attributes)?;
        let messaging_service_sid = self
            .messaging_service_sid
            .map(|sid| {
                if Sid::parse(&sid, SidKind::MessagingService).is_some() {
                    Ok(sid)
                } else {
                    Err(InvalidField::new(
                        "messagingServiceSid",
                        "must be MG followed by 32 hex digits",
                    ))
                }
            })
            .transpose()?;
        let timers = Timers {
            inactive: timer(
                "timers.inactive",
                self.timers.inactive,
                SessionTimer::inactive,
            )?
            .or_else(|| defaults.inactive_timer.clone()),
            closed: timer("timers.closed", self.timers.closed, SessionTimer::closed)?
                .or_else(|| defaults.closed_timer.clone()),
        };
        let capabilities = validate_capabilities(self.capabilities)?.unwrap_or_default();
        Ok(NewSession {
            participants,
            friendly_name,
            unique_name,
            attributes,
            messaging_service_sid,
            timers,
            capabilities,
            record: self.record.unwrap_or(false),
            pinned: None,
        })
    }
}

fn validate_capabilities(names: Option<Vec<String>>) -> Result<Option<Capabilities>, InvalidField> {
    names
        .map(|names| {
            Capabilities::parse(&names)
                .map_err(|e| InvalidField::new("capabilities", e.to_string()))
        })
        .transpose()
}

/// One address for a live session (`POST /sessions/{sid}/participants`):
/// the same rules as at create.
pub fn validate_participant(raw: &str, pools: &[&Pool]) -> Result<Address, InvalidField> {
    let address = Address::parse(raw).map_err(|e| InvalidField::new("address", e.to_string()))?;
    if pools.iter().any(|p| p.contains(address.number())) {
        return Err(InvalidField::new(
            "address",
            "is one of the pool's proxy numbers, not a participant",
        ));
    }
    Ok(address)
}

/// A `PATCH /sessions/{sid}` as the client sent it (a JSON merge patch).
#[derive(Debug, Default)]
pub struct UpdateRequest {
    pub friendly_name: Option<String>,
    /// Merged into the session's own attributes (RFC 7396: `null` removes).
    pub attributes: Option<Value>,
    pub timers: RequestedTimers,
    pub capabilities: Option<Vec<String>>,
    pub record: Option<bool>,
    pub state: Option<String>,
}

/// A validated update: only what the client asked to change is `Some`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionUpdate {
    pub friendly_name: Option<String>,
    /// The patch for the session's own attributes ([`SessionUpdate::attributes`]
    /// merges it).
    pub attributes_patch: Option<Map<String, Value>>,
    pub timers: Timers,
    pub capabilities: Option<Capabilities>,
    pub record: Option<bool>,
    pub close: bool,
}

impl UpdateRequest {
    /// Checks every field by create's rules, before anything is read: only
    /// the size of the merged attributes waits for the session's own
    /// ([`SessionUpdate::attributes`]).
    pub fn validate(self) -> Result<SessionUpdate, InvalidField> {
        let friendly_name = validate_name("friendlyName", self.friendly_name)?;
        let attributes_patch = match self.attributes {
            None => None,
            Some(Value::Object(patch)) => {
                if patch.contains_key(NAMESPACE) {
                    return Err(InvalidField::new(
                        "attributes",
                        format!("must not use the key `{NAMESPACE}`, which masked-comms reserves"),
                    ));
                }
                Some(patch)
            }
            Some(_) => return Err(InvalidField::new("attributes", "must be a JSON object")),
        };
        let timers = Timers {
            inactive: timer(
                "timers.inactive",
                self.timers.inactive,
                SessionTimer::inactive,
            )?,
            closed: timer("timers.closed", self.timers.closed, SessionTimer::closed)?,
        };
        let close = match self.state.as_deref() {
            None => false,
            Some("closed") => true,
            Some(_) => {
                return Err(InvalidField::new(
                    "state",
                    "can only be set to `closed` (closing is final)",
                ))
            }
        };
        let update = SessionUpdate {
            friendly_name,
            attributes_patch,
            timers,
            capabilities: validate_capabilities(self.capabilities)?,
            record: self.record,
            close,
        };
        if update == SessionUpdate::default() {
            return Err(InvalidField::new(
                "body",
                "changes nothing; send at least one field",
            ));
        }
        Ok(update)
    }
}

impl SessionUpdate {
    /// The session's own attributes after the patch, checked as a whole;
    /// `None` when the patch leaves them alone.
    pub fn attributes(
        &self,
        current: &Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>, InvalidField> {
        let Some(patch) = &self.attributes_patch else {
            return Ok(None);
        };
        let mut merged = Value::Object(current.clone());
        merge_patch(&mut merged, Value::Object(patch.clone()));
        validate_attributes(Some(merged)).map(Some)
    }
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes a
/// key, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let object = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            object.remove(&key);
        } else {
            merge_patch(object.entry(key).or_insert(Value::Null), value);
        }
    }
}

fn validate_addresses(raw: &[String], pools: &[&Pool]) -> Result<Vec<Address>, InvalidField> {
    if raw.is_empty() {
        return Err(InvalidField::new(
            "addresses",
            "must list at least one participant address",
        ));
    }
    if raw.len() > MAX_PARTICIPANTS {
        return Err(InvalidField::new(
            "addresses",
            format!("may list at most {MAX_PARTICIPANTS} participants (Twilio's limit per conversation)"),
        ));
    }
    let mut seen = HashSet::with_capacity(raw.len());
    raw.iter()
        .enumerate()
        .map(|(i, text)| {
            let field = format!("addresses[{i}]");
            let address =
                Address::parse(text).map_err(|e| InvalidField::new(&field, e.to_string()))?;
            if pools.iter().any(|p| p.contains(address.number())) {
                return Err(InvalidField::new(
                    field,
                    "is one of the pool's proxy numbers, not a participant",
                ));
            }
            if !seen.insert(address.clone()) {
                return Err(InvalidField::new(field, "repeats an earlier address"));
            }
            Ok(address)
        })
        .collect()
}

fn validate_name(field: &str, name: Option<String>) -> Result<Option<String>, InvalidField> {
    match name {
        Some(n) if n.is_empty() => Err(InvalidField::new(field, "must not be empty when given")),
        Some(n) if n.chars().count() > MAX_NAME_CHARS => Err(InvalidField::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        )),
        Some(n) if n.chars().any(char::is_control) => Err(InvalidField::new(
            field,
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

fn validate_attributes(attributes: Option<Value>) -> Result<Map<String, Value>, InvalidField> {
    let map = match attributes {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(InvalidField::new("attributes", "must be a JSON object")),
    };
    if map.contains_key(NAMESPACE) {
        return Err(InvalidField::new(
            "attributes",
            format!("must not use the key `{NAMESPACE}`, which masked-comms reserves"),
        ));
    }
    let size = serde_json::to_string(&map)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if size > MAX_USER_ATTRIBUTES_BYTES {
        return Err(InvalidField::new(
            "attributes",
            format!("must be at most {MAX_USER_ATTRIBUTES_BYTES} bytes as JSON"),
        ));
    }
    Ok(map)
}

fn timer(
    field: &str,
    text: Option<String>,
    parse: fn(&str) -> Result<SessionTimer, TimerError>,
) -> Result<Option<SessionTimer>, InvalidField> {
    text.map(|t| parse(&t).map_err(|e| InvalidField::new(field, e.to_string())))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool() -> Pool {
        Pool::new(["+15005550001", "+15005550002"]).unwrap()
    }

    fn request(addresses: &[&str]) -> SessionRequest {
        SessionRequest {
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn error_of(req: SessionRequest) -> InvalidField {
        req.validate(&[&pool()], &SessionDefaults::default())
            .unwrap_err()
    }

    #[test]
    fn accepts_a_minimal_request() {
        let s = request(&["+14155550101", "whatsapp:+447700900123"])
            .validate(&[&pool()], &SessionDefaults::default())
            .unwrap();
        assert_eq!(s.participants.len(), 2);
        assert!(s.attributes.is_empty());
        assert_eq!(s.timers, Timers::default());
    }

    #[test]
    fn pinning_puts_the_caller_in_once_on_a_pool_number() {
        let caller = Address::parse("+14155550199").unwrap();
        let proxy = PhoneNumber::parse("+15005550002").unwrap();
        let mut s = request(&["+14155550101"])
            .validate(&[&pool()], &SessionDefaults::default())
            .unwrap();
        s.pin(caller.clone(), proxy.clone(), &pool(), &[&pool()])
            .unwrap();
        assert_eq!(s.participants[0], caller);
        assert_eq!(s.participants.len(), 2);
        assert_eq!(s.pinned, Some((caller.clone(), proxy.clone())));
        // Already listed: not added twice.
        let mut listed = request(&["+14155550101", "+14155550199"])
            .validate(&[&pool()], &SessionDefaults::default())
            .unwrap();
        listed
            .pin(caller.clone(), proxy.clone(), &pool(), &[&pool()])
            .unwrap();
        assert_eq!(listed.participants.len(), 2);
        // A number outside the pool cannot be pinned.
        let outside = PhoneNumber::parse("+15005550009").unwrap();
        let e = s
            .pin(caller.clone(), outside, &pool(), &[&pool()])
            .unwrap_err();
        assert_eq!(e.field, "to");
        // A full session has no room for the caller.
        let fifty: Vec<String> = (0..MAX_PARTICIPANTS)
            .map(|i| format!("+1415555{i:04}"))
            .collect();
        let mut full = SessionRequest {
            addresses: fifty,
            ..Default::default()
        }
        .validate(&[&pool()], &SessionDefaults::default())
        .unwrap();
        let e = full
            .pin(
                caller,
                PhoneNumber::parse("+15005550001").unwrap(),
                &pool(),
                &[&pool()],
            )
            .unwrap_err();
        assert_eq!(e.field, "addresses");
    }

    #[test]
    fn a_pinned_caller_may_not_be_a_pool_number() {
        let mut s = request(&["+14155550101"])
            .validate(&[&pool()], &SessionDefaults::default())
            .unwrap();
        let proxy = PhoneNumber::parse("+15005550002").unwrap();
        let other_pool = Pool::new(vec!["+15005550077".to_owned()]).unwrap();
        for caller in ["+15005550001", "whatsapp:+15005550077"] {
            let e = s
                .pin(
                    Address::parse(caller).unwrap(),
                    proxy.clone(),
                    &pool(),
                    &[&pool(), &other_pool],
                )
                .unwrap_err();
            assert_eq!(e.field, "from", "{caller}");
        }
        assert_eq!(s.participants.len(), 1, "nobody was added");
        assert_eq!(s.pinned, None);
    }

    #[test]
    fn address_errors_name_the_position() {
        let e = error_of(request(&["+14155550101", "not a number"]));
        assert_eq!(e.field, "addresses[1]");
        let e = error_of(request(&["+14155550101", "+14155550101"]));
        assert_eq!(e.field, "addresses[1]");
        assert!(e.message.contains("repeats"));
        let e = error_of(request(&["+15005550002"]));
        assert!(e.message.contains("pool"), "{e}");
    }

    #[test]
    fn participant_count_is_bounded() {
        assert_eq!(error_of(request(&[])).field, "addresses");
        let many: Vec<String> = (0..51).map(|i| format!("+1415555{i:04}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(error_of(request(&refs)).field, "addresses");
        let fifty: Vec<&str> = refs[..50].to_vec();
        assert!(request(&fifty)
            .validate(&[&pool()], &SessionDefaults::default())
            .is_ok());
    }

    #[test]
    fn rejects_bad_optional_fields() {
        let mut r = request(&["+14155550101"]);
        r.messaging_service_sid = Some("MG123".into());
        assert_eq!(error_of(r).field, "messagingServiceSid");

        let mut r = request(&["+14155550101"]);
        r.attributes = Some(json!([1, 2]));
        assert_eq!(error_of(r).field, "attributes");

        let mut r = request(&["+14155550101"]);
        r.attributes = Some(json!({NAMESPACE: {}}));
        assert_eq!(error_of(r).field, "attributes");

        let mut r = request(&["+14155550101"]);
        r.friendly_name = Some("a\nb".into());
        assert_eq!(error_of(r).field, "friendlyName");

        let mut r = request(&["+14155550101"]);
        r.unique_name = Some("x".repeat(257));
        assert_eq!(error_of(r).field, "uniqueName");

        let mut r = request(&["+14155550101"]);
        r.timers.inactive = Some("PT30S".into());
        let e = error_of(r);
        assert_eq!(e.field, "timers.inactive");
        assert!(e.message.contains("1 minute"), "{e}");

        let mut r = request(&["+14155550101"]);
        r.timers.closed = Some("one day".into());
        assert_eq!(error_of(r).field, "timers.closed");
    }

    #[test]
    fn config_defaults_fill_missing_timers_only() {
        let defaults = SessionDefaults {
            inactive_timer: Some(SessionTimer::inactive("PT1H").unwrap()),
            closed_timer: Some(SessionTimer::closed("P1D").unwrap()),
        };
        let mut r = request(&["+14155550101"]);
        r.timers.closed = Some("PT12H".into());
        let s = r.validate(&[&pool()], &defaults).unwrap();
        assert_eq!(s.timers.inactive.unwrap().as_str(), "PT1H");
        assert_eq!(s.timers.closed.unwrap().as_str(), "PT12H");
    }

    #[test]
    fn capabilities_and_recording_default_to_both_and_off() {
        let s = request(&["+14155550101"])
            .validate(&[&pool()], &SessionDefaults::default())
            .unwrap();
        assert_eq!(s.capabilities, Capabilities::default());
        assert!(!s.record);
        let mut r = request(&["+14155550101"]);
        r.capabilities = Some(vec!["sms".into()]);
        assert_eq!(error_of(r).field, "capabilities");
    }

    #[test]
    fn a_merge_patch_merges_removes_and_replaces() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(
            &mut target,
            json!({"a": null, "b": {"c": 9, "d": null}, "e": [2], "f": "new"}),
        );
        assert_eq!(target, json!({"b": {"c": 9}, "e": [2], "f": "new"}));
    }

    #[test]
    fn an_update_follows_creates_rules() {
        let current = json!({"order": 1}).as_object().unwrap().clone();
        let update = UpdateRequest {
            attributes: Some(json!({"order": null, "stage": "picked up"})),
            state: Some("closed".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            update.attributes(&current).unwrap(),
            json!({"stage": "picked up"}).as_object().cloned()
        );
        assert!(update.close);
        let huge = UpdateRequest {
            attributes: Some(json!({"blob": "x".repeat(MAX_USER_ATTRIBUTES_BYTES)})),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(huge.attributes(&current).unwrap_err().field, "attributes");

        let field_of = |update: UpdateRequest| update.validate().unwrap_err().field;
        assert_eq!(field_of(UpdateRequest::default()), "body");
        assert_eq!(
            field_of(UpdateRequest {
                state: Some("active".into()),
                ..Default::default()
            }),
            "state"
        );
        assert_eq!(
            field_of(UpdateRequest {
                attributes: Some(json!({NAMESPACE: 1})),
                ..Default::default()
            }),
            "attributes"
        );
        assert_eq!(
            field_of(UpdateRequest {
                timers: RequestedTimers {
                    inactive: None,
                    closed: Some("PT5M".into())
                },
                ..Default::default()
            }),
            "timers.closed"
        );
        assert_eq!(
            field_of(UpdateRequest {
                friendly_name: Some("a\u{7}".into()),
                ..Default::default()
            }),
            "friendlyName"
        );
    }
}
