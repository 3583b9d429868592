//! The bodies the session API takes. `POST /sessions` as the original app
//! took it: JSON (camelCase) or a form with repeated `address` fields, both
//! becoming one [`SessionRequest`] for the domain to validate; a
//! participant to add; and `PATCH`'s JSON merge patch.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::session::{InvalidField, RequestedTimers, SessionRequest, UpdateRequest};

/// The JSON body of `POST /sessions`, as the original app took it (camelCase).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionRequestJson {
    pub addresses: Option<Vec<String>>,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Option<Value>,
    pub messaging_service_sid: Option<String>,
    pub timers: Option<TimersJson>,
    pub capabilities: Option<Vec<String>>,
    pub record: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersJson {
    pub inactive: Option<String>,
    pub closed: Option<String>,
}

impl TimersJson {
    fn into_requested(self) -> RequestedTimers {
        RequestedTimers {
            inactive: self.inactive,
            closed: self.closed,
        }
    }
}

/// The form body of `POST /sessions`: repeated `address` (or `addresses`) fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionRequestForm {
    #[serde(default)]
    pub address: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    /// A JSON object, as text.
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    #[serde(rename = "timers.inactive")]
    pub timers_inactive: Option<String>,
    #[serde(rename = "timers.closed")]
    pub timers_closed: Option<String>,
    /// Repeated: `capabilities=voice&capabilities=message`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// `true` or `false`.
    pub record: Option<String>,
}

impl From<SessionRequestJson> for SessionRequest {
    fn from(json: SessionRequestJson) -> Self {
        SessionRequest {
            addresses: json.addresses.unwrap_or_default(),
            friendly_name: json.friendly_name,
            unique_name: json.unique_name,
            attributes: json.attributes,
            messaging_service_sid: json.messaging_service_sid,
            timers: json
                .timers
                .map(TimersJson::into_requested)
                .unwrap_or_default(),
            capabilities: json.capabilities,
            record: json.record,
        }
    }
}

impl TryFrom<SessionRequestForm> for SessionRequest {
    type Error = InvalidField;

    fn try_from(form: SessionRequestForm) -> Result<Self, InvalidField> {
        let attributes = form
            .attributes
            .map(|text| {
                serde_json::from_str::<Value>(&text)
                    .map_err(|_| InvalidField::new("attributes", "must be a JSON object"))
            })
            .transpose()?;
        let mut addresses = form.address;
        addresses.extend(form.addresses);
        let record = match form.record.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(InvalidField::new("record", "must be `true` or `false`")),
        };
        Ok(SessionRequest {
            addresses,
            friendly_name: form.friendly_name,
            unique_name: form.unique_name,
            attributes,
            messaging_service_sid: form.messaging_service_sid,
            timers: RequestedTimers {
                inactive: form.timers_inactive,
                closed: form.timers_closed,
            },
            capabilities: (!form.capabilities.is_empty()).then_some(form.capabilities),
            record,
        })
    }
}

/// `POST /sessions/{sid}/participants`: `{"address": "+1..."}`, or a form
/// with `address`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantRequest {
    pub address: Option<String>,
}

/// `PATCH /sessions/{sid}`: a JSON merge patch of the session.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateJson {
    pub friendly_name: Option<String>,
    pub attributes: Option<Value>,
    pub timers: Option<TimersJson>,
    pub capabilities: Option<Vec<String>>,
    pub record: Option<bool>,
    pub state: Option<String>,
}

impl From<UpdateJson> for UpdateRequest {
    fn from(json: UpdateJson) -> Self {
        UpdateRequest {
            friendly_name: json.friendly_name,
            attributes: json.attributes,
            timers: json
                .timers
                .map(TimersJson::into_requested)
                .unwrap_or_default(),
            capabilities: json.capabilities,
            record: json.record,
            state: json.state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_addresses_merge_both_field_names() {
        let form: SessionRequestForm = serde_html_form::from_str(
            "address=%2B14155550101&addresses=%2B14155550102&address=%2B14155550103",
        )
        .unwrap();
        let r = SessionRequest::try_from(form).unwrap();
        assert_eq!(
            r.addresses,
            ["+14155550101", "+14155550103", "+14155550102"]
        );
    }
}
