//! Reading the TwiML our server answers, with a real XML parser, for what the emulator
//! plays afterwards: the first `<Dial>` of a voice answer, the `<Message>`s of a
//! messaging answer.
//!
//! Only what the emulator acts on is read; other verbs (`<Say>`, `<Hangup>`, ...) are
//! accepted and skipped. A document that is not well-formed XML, or whose root is not
//! `<Response>`, is an error, as Twilio would treat it ("an application error has
//! occurred").

use quick_xml::{events::Event, Reader};

use crate::webhooks::HttpMethod;

/// One element as read: name, attributes and text (both unescaped), and its parent.
#[derive(Debug)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    parent: Option<usize>,
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The elements of a document in document order; the first is the root.
fn read(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let text_of = |elements: &mut Vec<Element>, open: &[usize], text: &str| {
        match open.last() {
            Some(&at) => {
                elements[at].text.push_str(text);
                Ok(())
            }
            // Whitespace may surround the root.
            None if text.trim().is_empty() => Ok(()),
            None => Err("text outside the root element".to_owned()),
        }
    };
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if open.is_empty() && !elements.is_empty() {
                    return Err("more than one root element".into());
                }
                let mut attributes = Vec::new();
                for attribute in e.attributes() {
                    let attribute = attribute.map_err(|e| e.to_string())?;
                    let key = String::from_utf8(attribute.key.as_ref().to_vec())
                        .map_err(|e| e.to_string())?;
                    let value = attribute
                        .unescape_value()
                        .map_err(|e| e.to_string())?
                        .into_owned();
                    attributes.push((key, value));
                }
                let name =
                    String::from_utf8(e.name().as_ref().to_vec()).map_err(|e| e.to_string())?;
                elements.push(Element {
                    name,
                    attributes,
                    text: String::new(),
                    parent: open.last().copied(),
                });
                if matches!(event, Event::Start(_)) {
                    open.push(elements.len() - 1);
                }
            }
            Event::End(_) => {
                open.pop().ok_or("an end tag closes nothing")?;
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                text_of(&mut elements, &open, &text)?;
            }
            Event::CData(t) => {
                let text =
                    String::from_utf8(t.into_inner().into_owned()).map_err(|e| e.to_string())?;
                text_of(&mut elements, &open, &text)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                };
                text_of(&mut elements, &open, &resolved)?;
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions, doctype.
            _ => {}
        }
    }
    if !open.is_empty() {
        return Err("unclosed elements".into());
    }
    match elements.first() {
        Some(root) if root.name == "Response" => Ok(elements),
        Some(root) => Err(format!(
            "the root element is <{}>, not <Response>",
            root.name
        )),
        None => Err("no root element".into()),
    }
}

/// Splits a list attribute (`"initiated ringing"`, `"initiated,ringing"`).
fn list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn method(value: Option<&str>) -> HttpMethod {
    value
        .and_then(HttpMethod::parse)
        .unwrap_or(HttpMethod::Post)
}

/// `<Number>` with its status callback attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialNumber {
    pub number: String,
    pub status_callback: Option<String>,
    /// As written; empty means Twilio's default (`completed`).
    pub status_callback_events: Vec<String>,
    pub status_callback_method: HttpMethod,
}

/// Whom a `<Dial>` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DialTarget {
    /// A `<Number>` noun, or a number as the `<Dial>`'s own text.
    Number(DialNumber),
    /// A `<Conference>` room: no child call leg.
    Conference(String),
    /// `<Client>`, `<Sip>`, `<Queue>`, ...: not played by the emulator.
    Other(String),
}

/// The first `<Dial>` of a voice answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dial {
    pub target: DialTarget,
    pub caller_id: Option<String>,
    pub action: Option<String>,
    pub method: HttpMethod,
    /// Recording channels for a `record-*` value (2 for the `*-dual` ones), `None` for
    /// `do-not-record`.
    pub record_channels: Option<u8>,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: HttpMethod,
    /// As written; empty means Twilio's default (`completed`).
    pub recording_status_callback_events: Vec<String>,
}

/// What `record` asks for: channels, or none.
fn record_channels(value: Option<&str>) -> Option<u8> {
    match value? {
        "record-from-answer-dual" | "record-from-ringing-dual" => Some(2),
        // `true` is the older spelling of record-from-answer.
        "record-from-answer" | "record-from-ringing" | "true" => Some(1),
        _ => None,
    }
}

/// The first `<Dial>` directly under `<Response>`, if any.
pub(crate) fn first_dial(xml: &str) -> Result<Option<Dial>, String> {
    let elements = read(xml)?;
    let Some(index) = elements
        .iter()
        .position(|e| e.name == "Dial" && e.parent == Some(0))
    else {
        return Ok(None);
    };
    let dial = &elements[index];
    let noun = elements.iter().find(|e| e.parent == Some(index));
    let target = match noun {
        Some(n) if n.name == "Number" => DialTarget::Number(DialNumber {
            number: n.text.trim().to_owned(),
            status_callback: n.attribute("statusCallback").map(str::to_owned),
            status_callback_events: n
                .attribute("statusCallbackEvent")
                .map(list)
                .unwrap_or_default(),
            status_callback_method: method(n.attribute("statusCallbackMethod")),
        }),
        Some(n) if n.name == "Conference" => DialTarget::Conference(n.text.trim().to_owned()),
        Some(n) => DialTarget::Other(n.name.clone()),
        None => DialTarget::Number(DialNumber {
            number: dial.text.trim().to_owned(),
            status_callback: None,
            status_callback_events: Vec::new(),
            status_callback_method: HttpMethod::Post,
        }),
    };
    Ok(Some(Dial {
        target,
        caller_id: dial.attribute("callerId").map(str::to_owned),
        action: dial.attribute("action").map(str::to_owned),
        method: method(dial.attribute("method")),
        record_channels: record_channels(dial.attribute("record")),
        recording_status_callback: dial.attribute("recordingStatusCallback").map(str::to_owned),
        recording_status_callback_method: method(dial.attribute("recordingStatusCallbackMethod")),
        recording_status_callback_events: dial
            .attribute("recordingStatusCallbackEvent")
            .map(list)
            .unwrap_or_default(),
    }))
}

/// A `<Message>` of a messaging answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageReply {
    pub body: String,
    pub to: Option<String>,
    pub from: Option<String>,
}

/// The `<Message>`s directly under `<Response>`, with their text or `<Body>`.
pub(crate) fn messages(xml: &str) -> Result<Vec<MessageReply>, String> {
    let elements = read(xml)?;
    Ok(elements
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == "Message" && e.parent == Some(0))
        .map(|(index, message)| {
            let body = elements
                .iter()
                .find(|e| e.name == "Body" && e.parent == Some(index))
                .map_or(message.text.trim(), |b| b.text.trim());
            MessageReply {
                body: body.to_owned(),
                to: message.attribute("to").map(str::to_owned),
                from: message.attribute("from").map(str::to_owned),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_dial_with_number_callbacks_and_recording() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <Response>
              <Say voice="Polly.Amy">Connecting &amp; recording</Say>
              <Dial callerId="+14155550000" action="/dial-done?a=1&amp;b=2" method="GET"
                    record="record-from-answer-dual" recordingStatusCallback="https://h.example/rec"
                    recordingStatusCallbackEvent="in-progress completed">
                <Number statusCallback="https://h.example/status"
                        statusCallbackEvent="initiated ringing answered completed"
                        statusCallbackMethod="POST">+14155550102</Number>
              </Dial>
              <Dial><Number>+19999999999</Number></Dial>
            </Response>"#;
        let dial = first_dial(xml).unwrap().unwrap();
        assert_eq!(
            dial.target,
            DialTarget::Number(DialNumber {
                number: "+14155550102".into(),
                status_callback: Some("https://h.example/status".into()),
                status_callback_events: vec![
                    "initiated".into(),
                    "ringing".into(),
                    "answered".into(),
                    "completed".into()
                ],
                status_callback_method: HttpMethod::Post,
            })
        );
        assert_eq!(dial.caller_id.as_deref(), Some("+14155550000"));
        assert_eq!(dial.action.as_deref(), Some("/dial-done?a=1&b=2"));
        assert_eq!(dial.method, HttpMethod::Get);
        assert_eq!(dial.record_channels, Some(2));
        assert_eq!(
            dial.recording_status_callback_events,
            ["in-progress", "completed"]
        );
    }

    #[test]
    fn reads_bare_numbers_conferences_and_no_dial() {
        let bare = first_dial(
            "<Response><Dial record=\"record-from-ringing\"> +14155550102 </Dial></Response>",
        )
        .unwrap()
        .unwrap();
        assert!(matches!(&bare.target, DialTarget::Number(n) if n.number == "+14155550102"));
        assert_eq!(bare.record_channels, Some(1));
        let conference = first_dial(
            r#"<Response><Dial record="do-not-record"><Conference endConferenceOnExit="true">room-1</Conference></Dial></Response>"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(conference.target, DialTarget::Conference("room-1".into()));
        assert_eq!(conference.record_channels, None);
        assert_eq!(
            first_dial("<Response><Say>Bye</Say><Hangup/></Response>").unwrap(),
            None
        );
        // A <Dial> nested elsewhere is not the call's.
        assert_eq!(
            first_dial("<Response><Gather><Dial>+1</Dial></Gather></Response>").unwrap(),
            None
        );
    }

    #[test]
    fn refuses_what_twilio_cannot_run() {
        for bad in [
            "",
            "not xml",
            "<Response><Dial></Response>",
            "<Reply><Dial>+1</Dial></Reply>",
            "<Response/><Response/>",
            "<Response>&bogus;</Response>",
        ] {
            assert!(first_dial(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_messages_with_text_or_body() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Response>
            <Message>Sorry, this number is not in use &lt;yet&gt;.</Message>
            <Message to="+14155550199" from="+14155550000"><Body>Forwarded</Body></Message>
            </Response>"#;
        assert_eq!(
            messages(xml).unwrap(),
            [
                MessageReply {
                    body: "Sorry, this number is not in use <yet>.".into(),
                    to: None,
                    from: None
                },
                MessageReply {
                    body: "Forwarded".into(),
                    to: Some("+14155550199".into()),
                    from: Some("+14155550000".into())
                },
            ]
        );
        assert!(messages("<Response/>").unwrap().is_empty());
    }
}
