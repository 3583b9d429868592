//! The operator's page, rendered with maud (which escapes every splice).
//!
//! Its only script and style are inline, embedded in the binary, and allowed
//! by hash in the Content-Security-Policy; nothing is fetched from elsewhere.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::domain::session::MAX_PARTICIPANTS;
use crate::session::lookup::PoolNumberUse;

/// The page's script, inlined into `<script>`.
/// (messages.js first: page.js uses what it defines.)
pub const SCRIPT: &str = concat!(include_str!("messages.js"), include_str!("page.js"));
/// The page's style sheet, inlined into `<style>`.
pub const STYLE: &str = include_str!("page.css");

/// Rows the participant list starts with when nothing is prefilled.
const DEFAULT_ROWS: usize = 2;
/// The pool chart calls a number near exhaustion when it carries at least
/// this percentage of the busiest number's participants...
pub const NEAR_EXHAUSTION_OF_BUSIEST_PERCENT: u32 = 80;
/// ...and at least this many times the pool's average. Both, so that in an
/// evenly loaded pool no number is flagged just for being the busiest. (A
/// lone number in use among idle ones is flagged, however few it carries.)
/// The script reads both from the chart's data attributes, so the caption
/// and the rule cannot drift apart.
pub const NEAR_EXHAUSTION_OF_AVERAGE_TIMES: u32 = 2;
/// Longest prefilled value kept, in characters (Twilio's address limit).
const MAX_PREFILL_CHARS: usize = 256;

/// What the operator put in the page's URL to prefill the create form
/// (`?address=…&address=…&friendlyName=…&timers.inactive=…&timers.closed=…`).
/// Only ever echoed back into the form, escaped; never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefill {
    pub addresses: Vec<String>,
    pub friendly_name: Option<String>,
    pub inactive: Option<String>,
    pub closed: Option<String>,
}

impl Prefill {
    /// Reads the query string; unknown parameters are ignored, values are
    /// capped in number and length.
    pub fn from_query(query: Option<&str>) -> Self {
        let mut prefill = Prefill::default();
        let Some(query) = query else {
            return prefill;
        };
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value: String = value.trim().chars().take(MAX_PREFILL_CHARS).collect();
            if value.is_empty() {
                continue;
            }
            match name.as_ref() {
                "address" | "addresses" if prefill.addresses.len() < MAX_PARTICIPANTS => {
                    prefill.addresses.push(value)
                }
                "friendlyName" => prefill.friendly_name = Some(value),
                "timers.inactive" => prefill.inactive = Some(value),
                "timers.closed" => prefill.closed = Some(value),
                _ => {}
            }
        }
        prefill
    }
}

/// Everything the page shows that comes from the server.
#[derive(Debug, Clone, Copy)]
pub struct PageView<'a> {
    /// The configured pool numbers, in pool order, with their use.
    pub pool: &'a [PoolNumberUse],
    pub prefill: &'a Prefill,
}

/// The whole page.
pub fn render(view: &PageView<'_>) -> Markup {
    let mut rows: Vec<&str> = view.prefill.addresses.iter().map(String::as_str).collect();
    while rows.len() < DEFAULT_ROWS {
        rows.push("");
    }
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="referrer" content="no-referrer";
                title { "masked-comms · sessions" }
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
            }
            body {
                header class="top" {
                    h1 { "masked-comms" }
                    p { "Masked sessions on Twilio Conversations: participants reach each other through pool numbers, never seeing each other's real numbers." }
                }
                main {
                    (pool_section(view.pool))
                    (create_section(&rows, view.prefill))
                    (lookup_section())
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

fn pool_section(pool: &[PoolNumberUse]) -> Markup {
    html! {
        section class="card" id="pool-card" aria-labelledby="pool-heading" {
            h2 id="pool-heading" { "Number pool" }
            p class="hint" {
                @match pool.len() {
                    1 => { "1 Twilio number" }
                    n => { (n) " Twilio numbers" }
                }
                " can act as proxies. Each participant gets one that is free for them."
            }
            div class="actions" {
                button type="button" class="secondary" id="pool-refresh" { "Refresh" }
                span class="status" id="pool-status" role="status" aria-live="polite" {}
            }
            p class="form-error" id="pool-error" role="alert" hidden {}
            (pool_chart())
            p class="hint" id="pool-uncounted" hidden {
                "The use of each number is not counted: this stack runs without the session index ("
                code { "SESSION_INDEX_TABLE" } "), and only the index can count without paging Twilio."
            }
            // Without script (or without an index) the plain list stands in
            // for the chart; the script hides it once the chart is drawn.
            ul class="pool" id="pool" {
                @for entry in pool {
                    li {
                        code { (entry.number) }
                        @if let Some(in_use) = entry.in_use {
                            " "
                            span class="in-use" data-in-use=(in_use) {
                                (in_use) @if in_use == 1 { " participant" } @else { " participants" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The empty chart the script fills from `GET /pool`, with the rule for
/// "near exhaustion" stated where the marks are. `/pool` counts bindings
/// (one per participant, session and number), so the chart says
/// participants: two people in one session on one number count twice.
fn pool_chart() -> Markup {
    html! {
        figure class="chart" id="pool-chart" hidden
            data-near-busiest-percent=(NEAR_EXHAUSTION_OF_BUSIEST_PERCENT)
            data-near-average-times=(NEAR_EXHAUSTION_OF_AVERAGE_TIMES) {
            p class="chart-summary" id="pool-summary" {}
            ol class="bars" id="pool-bars" {}
            figcaption id="pool-caption" {
                "Each bar counts the participants a number carries in open sessions (someone in two sessions counts twice), scaled to the busiest number. "
                strong { "Near exhaustion" }
                " marks a number carrying at least " (NEAR_EXHAUSTION_OF_BUSIEST_PERCENT)
                "% of the busiest number's participants and at least " (NEAR_EXHAUSTION_OF_AVERAGE_TIMES)
                "× the pool's average."
            }
        }
    }
}

fn create_section(rows: &[&str], prefill: &Prefill) -> Markup {
    html! {
        section class="card" aria-labelledby="create-heading" {
            h2 id="create-heading" { "New session" }
            // Without script the form still works: it posts a form body to
            // the API, which answers with JSON.
            form id="create-form" method="post" action="sessions" novalidate {
                fieldset id="participants" aria-describedby="participants-hint participants-error" {
                    legend { "Participants" }
                    p class="hint" id="participants-hint" {
                        "E.164 numbers such as " code { "+14155550101" }
                        ", or WhatsApp as " code { "whatsapp:+14155550101" }
                        ". 1 to " (MAX_PARTICIPANTS) " participants."
                    }
                    ol class="rows" id="address-rows" data-max=(MAX_PARTICIPANTS) {
                        @for (i, value) in rows.iter().enumerate() {
                            (address_row(i, value, rows.len()))
                        }
                    }
                    p class="field-error" id="participants-error" hidden {}
                    button type="button" class="secondary" id="add-row"
                        disabled[rows.len() >= MAX_PARTICIPANTS] { "Add participant" }
                }
                div class="field" {
                    label for="friendly-name" { "Friendly name " span class="optional" { "(optional)" } }
                    input type="text" id="friendly-name" name="friendlyName" maxlength="256"
                        autocomplete="off" value=[prefill.friendly_name.as_deref()]
                        aria-describedby="friendly-name-error";
                    p class="field-error" id="friendly-name-error" hidden {}
                }
                (capabilities_fieldset())
                (record_field())
                fieldset class="timers" aria-describedby="timers-hint" {
                    legend { "Timers " span class="optional" { "(optional)" } }
                    p class="hint" id="timers-hint" {
                        "ISO-8601 durations: " code { "PT1H" } " is one hour, " code { "P1D" } " one day. "
                        "A session goes inactive after at least 1 minute without messages, and closes after at least 10 minutes."
                    }
                    div class="pair" {
                        (timer_field("timer-inactive", "timers.inactive", "Inactive after", "PT1H", prefill.inactive.as_deref()))
                        (timer_field("timer-closed", "timers.closed", "Closed after", "P1D", prefill.closed.as_deref()))
                    }
                }
                div class="actions" {
                    button type="submit" id="create-submit" { "Create session" }
                    span class="status" id="create-status" role="status" aria-live="polite" {}
                }
                div class="form-error" id="create-error" role="alert" hidden {}
            }
            div class="result" id="create-result" hidden {}
        }
    }
}

/// Voice and messages, both ticked: the script then leaves `capabilities`
/// out (the API's default) and refuses neither. Without script the form
/// posts both, which means the same.
fn capabilities_fieldset() -> Markup {
    html! {
        fieldset id="capabilities" aria-describedby="capabilities-hint capabilities-error" {
            legend { "Capabilities" }
            p class="hint" id="capabilities-hint" {
                "What participants may do through their proxy numbers."
            }
            div class="checks" {
                (capability_check("cap-voice", "voice", "Voice calls"))
                (capability_check("cap-message", "message", "Messages (SMS, WhatsApp)"))
            }
            p class="field-error" id="capabilities-error" hidden {}
        }
    }
}

fn capability_check(id: &str, value: &str, label: &str) -> Markup {
    html! {
        label class="check" for=(id) {
            input type="checkbox" id=(id) name="capabilities" value=(value) checked
                aria-describedby="capabilities-error";
            " " (label)
        }
    }
}

/// Off by default: recording is opt-in, and the operator is told in one
/// line what it means for the people on the call.
fn record_field() -> Markup {
    html! {
        div class="field" {
            label class="check" for="record" {
                input type="checkbox" id="record" name="record" value="true"
                    aria-describedby="record-hint record-error";
                " Record calls"
            }
            p class="hint" id="record-hint" {
                "Twilio keeps the audio of each call in your account until you delete it: tell participants before you record."
            }
            p class="field-error" id="record-error" hidden {}
        }
    }
}

fn address_row(index: usize, value: &str, count: usize) -> Markup {
    let id = format!("address-{index}");
    let error_id = format!("{id}-error");
    let number = index + 1;
    html! {
        li class="row" {
            label for=(id) { "Participant " (number) }
            div class="inline" {
                input type="text" id=(id) name="address" value=(value) autocomplete="off"
                    autocapitalize="off" spellcheck="false" placeholder="+14155550101"
                    aria-describedby=(error_id);
                button type="button" class="secondary remove" disabled[count <= 1]
                    aria-label={ "Remove participant " (number) } { "Remove" }
            }
            p class="field-error" id=(error_id) hidden {}
        }
    }
}

fn timer_field(id: &str, name: &str, label: &str, example: &str, value: Option<&str>) -> Markup {
    let error_id = format!("{id}-error");
    html! {
        div class="field" {
            label for=(id) { (label) }
            input type="text" id=(id) name=(name) value=[value] placeholder=(example)
                autocomplete="off" autocapitalize="characters" spellcheck="false"
                aria-describedby={ "timers-hint " (error_id) };
            p class="field-error" id=(error_id) hidden {}
        }
    }
}

fn lookup_section() -> Markup {
    html! {
        section class="card" id="lookup" aria-labelledby="lookup-heading" {
            h2 id="lookup-heading" { "Find and close sessions" }
            form id="lookup-form" method="get" action="sessions" novalidate {
                div class="field" {
                    label for="lookup-address" { "Participant address" }
                    div class="inline" {
                        input type="text" id="lookup-address" name="address" autocomplete="off"
                            autocapitalize="off" spellcheck="false" placeholder="+14155550101"
                            aria-describedby="lookup-address-error";
                        button type="submit" id="lookup-submit" { "Look up" }
                    }
                    p class="field-error" id="lookup-address-error" hidden {}
                }
                div class="field" {
                    label class="check" for="lookup-all" {
                        input type="checkbox" id="lookup-all" name="state" value="all"
                            aria-describedby="lookup-all-error";
                        " Include closed sessions"
                    }
                    p class="field-error" id="lookup-all-error" hidden {}
                }
                span class="status" id="lookup-status" role="status" aria-live="polite" {}
                div class="form-error" id="lookup-error" role="alert" hidden {}
            }
            div class="result" id="lookup-results" {}
            button type="button" class="secondary" id="lookup-more" hidden { "Load more" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_assets_cannot_end_their_element_early() {
        assert!(!SCRIPT.to_ascii_lowercase().contains("</script"));
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
        assert!(!SCRIPT.contains("<!--"));
    }

    #[test]
    fn prefill_reads_the_query() {
        let prefill = Prefill::from_query(Some(
            "address=%2B14155550101&address=&addresses=whatsapp%3A%2B447700900123&friendlyName=Ride+42&timers.closed=P1D&other=x",
        ));
        assert_eq!(
            prefill,
            Prefill {
                addresses: vec!["+14155550101".into(), "whatsapp:+447700900123".into()],
                friendly_name: Some("Ride 42".into()),
                inactive: None,
                closed: Some("P1D".into()),
            }
        );
        let many = vec!["address=%2B1"; 80].join("&");
        assert_eq!(
            Prefill::from_query(Some(&many)).addresses.len(),
            MAX_PARTICIPANTS
        );
        assert_eq!(Prefill::from_query(None), Prefill::default());
    }

    fn page_with(pool: &[PoolNumberUse]) -> String {
        render(&PageView {
            pool,
            prefill: &Prefill::default(),
        })
        .into_string()
    }

    fn used(number: &str, in_use: Option<usize>) -> PoolNumberUse {
        PoolNumberUse {
            number: number.into(),
            in_use,
        }
    }

    /// The start tag of the element with this id.
    fn tag_with_id<'a>(page: &'a str, id: &str) -> &'a str {
        let at = page
            .find(&format!(r#"id="{id}""#))
            .unwrap_or_else(|| panic!("no #{id}"));
        let start = page[..at].rfind('<').unwrap();
        let end = at + page[at..].find('>').unwrap();
        &page[start..=end]
    }

    #[test]
    fn the_chart_states_the_rule_the_script_applies() {
        let page = page_with(&[used("+15005550001", Some(3))]);
        let chart = tag_with_id(&page, "pool-chart");
        assert!(
            chart.starts_with("<figure ") && chart.contains(" hidden"),
            "{chart}"
        );
        assert!(chart.contains(&format!(
            r#"data-near-busiest-percent="{NEAR_EXHAUSTION_OF_BUSIEST_PERCENT}""#
        )));
        assert!(chart.contains(&format!(
            r#"data-near-average-times="{NEAR_EXHAUSTION_OF_AVERAGE_TIMES}""#
        )));
        let caption = &page[page.find(r#"id="pool-caption""#).unwrap()..];
        let caption = &caption[..caption.find("</figcaption>").unwrap()];
        assert!(caption.contains("at least 80% of the busiest"), "{caption}");
        assert!(
            caption.contains("at least 2× the pool's average"),
            "{caption}"
        );
        // The script fills these; the server leaves them empty.
        assert!(page.contains(r#"<ol class="bars" id="pool-bars"></ol>"#));
        assert!(tag_with_id(&page, "pool-uncounted").contains(" hidden"));
    }

    #[test]
    fn the_plain_pool_list_stays_for_pages_without_script() {
        let page = page_with(&[used("+15005550001", Some(1)), used("+15005550002", None)]);
        assert!(page.contains(r#"<li><code>+15005550001</code> <span class="in-use" data-in-use="1">1 participant</span></li>"#));
        assert!(page.contains("<li><code>+15005550002</code></li>"));
        assert!(page.contains("2 Twilio numbers"));
    }

    #[test]
    fn pool_numbers_are_escaped() {
        let page = page_with(&[used("<b>\"x\"</b>", Some(0))]);
        assert!(!page.contains("<b>"));
        assert!(page.contains("<code>&lt;b&gt;&quot;x&quot;&lt;/b&gt;</code>"));
    }

    #[test]
    fn both_capabilities_start_ticked_and_recording_off() {
        let page = page_with(&[]);
        for (id, value) in [("cap-voice", "voice"), ("cap-message", "message")] {
            let input = tag_with_id(&page, id);
            assert!(input.contains(r#"type="checkbox""#), "{input}");
            assert!(input.contains(r#"name="capabilities""#), "{input}");
            assert!(input.contains(&format!(r#"value="{value}""#)), "{input}");
            assert!(input.contains(" checked"), "{input}");
            assert!(input.contains(r#"aria-describedby="capabilities-error""#));
        }
        let record = tag_with_id(&page, "record");
        assert!(record.contains(r#"name="record" value="true""#), "{record}");
        assert!(!record.contains("checked"), "{record}");
        assert!(record.contains(r#"aria-describedby="record-hint record-error""#));
        assert!(page.contains(r#"<label class="check" for="record">"#));
        let hint = &page[page.find(r#"id="record-hint""#).unwrap()..];
        assert!(hint[..hint.find("</p>").unwrap()].contains("tell participants before you record"));
        // Inside the form, so that without script they are posted too.
        let form = &page[page.find(r#"id="create-form""#).unwrap()..];
        let form = &form[..form.find("</form>").unwrap()];
        assert!(form.contains(r#"id="cap-voice""#) && form.contains(r#"id="record""#));
        assert!(
            form.contains(r#"id="capabilities-error""#) && form.contains(r#"id="record-error""#)
        );
    }

    #[test]
    fn every_id_is_unique() {
        let page = page_with(&[used("+15005550001", Some(2)), used("+15005550002", Some(0))]);
        let mut ids: Vec<&str> = page
            .match_indices(" id=\"")
            .map(|(at, found)| {
                let rest = &page[at + found.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
    }

    #[test]
    fn starts_with_two_rows_and_offers_lookup() {
        let prefill = Prefill::default();
        let page = render(&PageView {
            pool: &[PoolNumberUse {
                number: "+15005550001".into(),
                in_use: Some(2),
            }],
            prefill: &prefill,
        })
        .into_string();
        assert!(page.contains(r#"id="address-1""#) && !page.contains(r#"id="address-2""#));
        assert!(page.contains(r#"id="lookup-form""#));
    }
}
