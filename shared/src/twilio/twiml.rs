//! TwiML for voice answers, written with an XML writer so every text and
//! attribute is escaped.

use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

/// How `<Say>` speaks: Twilio's voice and language names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Voice {
    pub voice: Option<String>,
    pub language: Option<String>,
}

/// The verbs masked-comms answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say {
        text: String,
        voice: Voice,
    },
    /// Dial one number, showing `caller_id`.
    DialNumber {
        caller_id: String,
        number: String,
    },
    /// Join a conference room.
    DialConference {
        room: String,
        end_on_exit: bool,
    },
    Hangup,
}

/// A TwiML document: `<?xml …?><Response>…</Response>`.
pub fn render(verbs: &[Verb]) -> String {
    write(verbs).expect("writing TwiML into memory cannot fail")
}

fn write(verbs: &[Verb]) -> io::Result<String> {
    let mut writer = Writer::new(Vec::new());
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("Response")
        .write_inner_content(|w| verbs.iter().try_for_each(|verb| write_verb(w, verb)))?;
    Ok(String::from_utf8(writer.into_inner()).expect("the writer only emits UTF-8"))
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> io::Result<()> {
    match verb {
        Verb::Say { text, voice } => {
            let mut say = w.create_element("Say");
            if let Some(v) = &voice.voice {
                say = say.with_attribute(("voice", v.as_str()));
            }
            if let Some(l) = &voice.language {
                say = say.with_attribute(("language", l.as_str()));
            }
            say.write_text_content(BytesText::new(text))?;
        }
        Verb::DialNumber { caller_id, number } => {
            w.create_element("Dial")
                .with_attribute(("callerId", caller_id.as_str()))
                .write_inner_content(|w| {
                    w.create_element("Number")
                        .write_text_content(BytesText::new(number))
                        .map(drop)
                })?;
        }
        Verb::DialConference { room, end_on_exit } => {
            w.create_element("Dial").write_inner_content(|w| {
                w.create_element("Conference")
                    .with_attribute((
                        "endConferenceOnExit",
                        if *end_on_exit { "true" } else { "false" },
                    ))
                    .write_text_content(BytesText::new(room))
                    .map(drop)
            })?;
        }
        Verb::Hangup => {
            w.create_element("Hangup").write_empty()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_one_to_one_connect() {
        let twiml = render(&[
            Verb::Say {
                text: "Connecting you".into(),
                voice: Voice {
                    voice: Some("Polly.Amy".into()),
                    language: Some("en-GB".into()),
                },
            },
            Verb::DialNumber {
                caller_id: "+15017122661".into(),
                number: "+15558675310".into(),
            },
        ]);
        assert_eq!(
            twiml,
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r#"<Say voice="Polly.Amy" language="en-GB">Connecting you</Say>"#,
                r#"<Dial callerId="+15017122661"><Number>+15558675310</Number></Dial>"#,
                "</Response>"
            )
        );
    }

    #[test]
    fn escapes_text_and_attributes() {
        let twiml = render(&[
            Verb::Say {
                text: "</Say><Dial>+1</Dial> & more".into(),
                voice: Voice {
                    voice: Some("\"><Hangup/>".into()),
                    language: None,
                },
            },
            Verb::Hangup,
        ]);
        assert!(!twiml.contains("<Dial>"), "{twiml}");
        assert!(twiml.contains("&lt;/Say&gt;"), "{twiml}");
        assert!(twiml.contains("&amp; more"), "{twiml}");
        assert!(twiml.contains("&quot;&gt;&lt;Hangup/&gt;"), "{twiml}");
        assert!(twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    }

    #[test]
    fn renders_a_conference() {
        let twiml = render(&[Verb::DialConference {
            room: "mc-CA1".into(),
            end_on_exit: true,
        }]);
        assert!(twiml.contains(
            r#"<Dial><Conference endConferenceOnExit="true">mc-CA1</Conference></Dial>"#
        ));
    }
}
