//! TwiML for voice answers, written with an XML writer so every text and
//! attribute is escaped.

use std::borrow::Cow;
use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

/// How `<Say>` speaks: Twilio's voice and language names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Voice {
    pub voice: Option<String>,
    pub language: Option<String>,
}

/// Where Twilio reports how a dialled call went: `action` when it ends
/// (`DialCallStatus`, `DialCallDuration`), and, when recording, the
/// recording's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub action: String,
    /// Recording, dual channel, with its callback.
    pub recording_callback: Option<String>,
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
        tracking: Option<Tracking>,
    },
    /// Join a conference room.
    DialConference {
        room: String,
        end_on_exit: bool,
        tracking: Option<Tracking>,
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

/// The text without characters XML 1.0 forbids (control characters,
/// U+FFFE/U+FFFF): escaping cannot make those valid, and Twilio would
/// reject the document.
fn xml_safe(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|c| allowed(*c)).collect())
    }
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> io::Result<()> {
    match verb {
        Verb::Say { text, voice } => {
            let mut say = w.create_element("Say");
            if let Some(v) = &voice.voice {
                say = say.with_attribute(("voice", xml_safe(v).as_ref()));
            }
            if let Some(l) = &voice.language {
                say = say.with_attribute(("language", xml_safe(l).as_ref()));
            }
            say.write_text_content(BytesText::new(&xml_safe(text)))?;
        }
        Verb::DialNumber {
            caller_id,
            number,
            tracking,
        } => {
            let mut dial = w
                .create_element("Dial")
                .with_attribute(("callerId", xml_safe(caller_id).as_ref()));
            if let Some(tracking) = tracking {
                dial = dial.with_attribute(("action", xml_safe(&tracking.action).as_ref()));
                if let Some(callback) = &tracking.recording_callback {
                    dial = dial
                        .with_attribute(("record", "record-from-answer-dual"))
                        .with_attribute(("recordingStatusCallback", xml_safe(callback).as_ref()));
                }
            }
            dial.write_inner_content(|w| {
                w.create_element("Number")
                    .write_text_content(BytesText::new(&xml_safe(number)))
                    .map(drop)
            })?;
        }
        Verb::DialConference {
            room,
            end_on_exit,
            tracking,
        } => {
            let mut dial = w.create_element("Dial");
            if let Some(tracking) = tracking {
                dial = dial.with_attribute(("action", xml_safe(&tracking.action).as_ref()));
            }
            dial.write_inner_content(|w| {
                let mut conference = w.create_element("Conference").with_attribute((
                    "endConferenceOnExit",
                    if *end_on_exit { "true" } else { "false" },
                ));
                if let Some(callback) = tracking
                    .as_ref()
                    .and_then(|t| t.recording_callback.as_ref())
                {
                    conference = conference
                        .with_attribute(("record", "record-from-start"))
                        .with_attribute(("recordingStatusCallback", xml_safe(callback).as_ref()));
                }
                conference
                    .write_text_content(BytesText::new(&xml_safe(room)))
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
                tracking: None,
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
    fn tracks_and_records_only_when_asked() {
        let tracking = |record: bool| Tracking {
            action: "https://x.example/call-events?session=CH1".into(),
            recording_callback: record
                .then(|| "https://x.example/call-events?session=CH1&kind=recording".into()),
        };
        let dial = |tracking| {
            render(&[Verb::DialNumber {
                caller_id: "+15017122661".into(),
                number: "+15558675310".into(),
                tracking,
            }])
        };
        assert!(!dial(None).contains("action=") && !dial(None).contains("record"));
        let tracked = dial(Some(tracking(false)));
        assert!(
            tracked.contains(r#"action="https://x.example/call-events?session=CH1""#),
            "{tracked}"
        );
        assert!(!tracked.contains("record"), "{tracked}");
        let recorded = dial(Some(tracking(true)));
        assert!(
            recorded.contains(r#"record="record-from-answer-dual""#),
            "{recorded}"
        );
        assert!(recorded.contains("kind=recording"), "{recorded}");
        let conference = render(&[Verb::DialConference {
            room: "mc-CA1".into(),
            end_on_exit: true,
            tracking: Some(tracking(true)),
        }]);
        assert!(
            conference.contains(r#"record="record-from-start""#),
            "{conference}"
        );
    }

    #[test]
    fn renders_a_conference() {
        let twiml = render(&[Verb::DialConference {
            room: "mc-CA1".into(),
            end_on_exit: true,
            tracking: None,
        }]);
        assert!(twiml.contains(
            r#"<Dial><Conference endConferenceOnExit="true">mc-CA1</Conference></Dial>"#
        ));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// An element as read back: name, attributes (unescaped), text (unescaped).
    #[derive(Debug, PartialEq, Eq)]
    struct Read {
        name: String,
        attributes: Vec<(String, String)>,
        text: String,
    }

    /// Reads a TwiML document with quick-xml, failing on any error, and
    /// returns its elements in document order.
    fn read(xml: &str) -> Result<Vec<Read>, String> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut elements: Vec<Read> = Vec::new();
        // Indices into `elements` of the open elements.
        let mut open: Vec<usize> = Vec::new();
        let mut declared = false;
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            let empty = matches!(event, Event::Empty(_));
            match event {
                Event::Decl(_) => declared = true,
                Event::Start(e) | Event::Empty(e) => {
                    let mut attributes = Vec::new();
                    for attribute in e.attributes() {
                        let attribute = attribute.map_err(|e| e.to_string())?;
                        let value = attribute
                            .unescape_value()
                            .map_err(|e| e.to_string())?
                            .into_owned();
                        let key = String::from_utf8(attribute.key.as_ref().to_vec())
                            .map_err(|e| e.to_string())?;
                        attributes.push((key, value));
                    }
                    let name =
                        String::from_utf8(e.name().as_ref().to_vec()).map_err(|e| e.to_string())?;
                    elements.push(Read {
                        name,
                        attributes,
                        text: String::new(),
                    });
                    if !empty {
                        open.push(elements.len() - 1);
                    }
                }
                Event::End(_) => {
                    open.pop().ok_or("an end tag closes nothing")?;
                }
                Event::Text(t) => {
                    let text = t.decode().map_err(|e| e.to_string())?;
                    let at = *open.last().ok_or("text outside the root")?;
                    elements[at].text.push_str(&text);
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| e.to_string())?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| format!("unknown entity {name}"))?
                                .to_owned()
                        }
                    };
                    let at = *open.last().ok_or("a reference outside the root")?;
                    elements[at].text.push_str(&resolved);
                }
                Event::Eof => break,
                other => return Err(format!("unexpected {other:?}")),
            }
        }
        if !declared || !open.is_empty() {
            return Err("no declaration, or unclosed elements".into());
        }
        Ok(elements)
    }

    /// XML 1.0's `Char` production: what a well-formed document may contain.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    }

    fn element(name: &str, attributes: &[(&str, &str)], text: &str) -> Read {
        Read {
            name: name.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            text: text.into(),
        }
    }

    fn say(text: &str, voice: &Voice) -> Read {
        let mut attributes = Vec::new();
        if let Some(v) = &voice.voice {
            attributes.push(("voice", v.as_str()));
        }
        if let Some(l) = &voice.language {
            attributes.push(("language", l.as_str()));
        }
        element("Say", &attributes, text)
    }

    fn voice() -> impl Strategy<Value = Voice> {
        (
            prop::option::of(hostile_text()),
            prop::option::of(hostile_text()),
        )
            .prop_map(|(voice, language)| Voice { voice, language })
    }

    /// Text a hostile configuration or roster could hold: markup, entities,
    /// quotes, and arbitrary Unicode.
    fn hostile_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("<".to_owned()),
            Just(">".to_owned()),
            Just("&".to_owned()),
            Just("&amp;".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("</Say><Dial>+1</Dial>".to_owned()),
            Just("]]>".to_owned()),
            Just("<!--".to_owned()),
            "[a-zA-Z0-9 +]{1,8}",
            // `any::<String>()` avoids control characters; `any::<char>()` does not.
            any::<String>(),
            any::<char>().prop_map(String::from),
            Just("\u{0}".to_owned()),
            Just("\u{1b}[31m".to_owned()),
            Just("\r\n\t".to_owned()),
            Just("\u{FFFE}".to_owned()),
        ];
        prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
    }

    proptest! {
        // Failures print their minimal input; no regression files in the tree.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        /// Whatever the texts, quick-xml reads the document back and gets
        /// exactly the verbs, attributes and texts that went in, less the
        /// characters XML cannot carry.
        #[test]
        fn renders_what_quick_xml_reads_back(
            text in hostile_text(),
            voice in voice(),
            caller_id in hostile_text(),
            number in hostile_text(),
            room in hostile_text(),
            end_on_exit in any::<bool>(),
        ) {
            let verbs = [
                Verb::Say { text: text.clone(), voice: voice.clone() },
                Verb::DialNumber { caller_id: caller_id.clone(), number: number.clone(), tracking: None },
                Verb::DialConference { room: room.clone(), end_on_exit, tracking: None },
                Verb::Hangup,
            ];
            let xml = render(&verbs);
            let read = read(&xml).map_err(|e| TestCaseError::fail(format!("{e}: {xml}")))?;
            let end = if end_on_exit { "true" } else { "false" };
            let safe = |s: &str| xml_safe(s).into_owned();
            let safe_voice = Voice {
                voice: voice.voice.as_deref().map(safe),
                language: voice.language.as_deref().map(safe),
            };
            let expected = vec![
                element("Response", &[], ""),
                say(&safe(&text), &safe_voice),
                element("Dial", &[("callerId", &safe(&caller_id))], ""),
                element("Number", &[], &safe(&number)),
                element("Dial", &[], ""),
                element("Conference", &[("endConferenceOnExit", end)], &safe(&room)),
                element("Hangup", &[], ""),
            ];
            prop_assert_eq!(read, expected, "{}", xml);
        }

        /// A stricter reading than quick-xml's: a well-formed XML 1.0
        /// document contains only XML `Char`s. Twilio's parser rejects the
        /// rest, and the caller hears "an application error has occurred".
        #[test]
        fn renders_only_xml_characters(text in hostile_text(), voice in voice()) {
            let xml = render(&[Verb::Say { text, voice }, Verb::Hangup]);
            let bad: Vec<char> = xml.chars().filter(|c| !is_xml_char(*c)).collect();
            prop_assert!(bad.is_empty(), "characters XML 1.0 forbids: {:?} in {:?}", bad, xml);
        }
    }
}
