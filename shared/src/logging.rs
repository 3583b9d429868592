//! Structured logs: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`),
//! one line per request (see [`crate::http::serve`]). Phone numbers go through
//! [`crate::privacy`].
//!
//! Beside each request's line the wrapper writes its metrics document
//! ([`crate::metrics`]) to stdout, a line of its own and not a tracing event:
//! CloudWatch reads metrics only from a line that is one JSON object with
//! `_aws` at its top, which an event's flat fields cannot hold.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The crate whose logs are written to be safe at every level.
const OURS: &str = "masked_comms";

/// Installs the global subscriber once; later calls do nothing.
///
/// The level comes from `AWS_LAMBDA_LOG_LEVEL` (the stack's `LogLevel`), else
/// `RUST_LOG` read as a plain level, else INFO. It applies to this crate
/// only: every other crate stays at INFO or quieter, because below that the
/// Lambda runtime logs each raw event and the HTTP stacks log headers, and
/// those carry phone numbers and the operator's credentials.
pub fn init() {
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .map(|text| parse_level(&text))
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter(level));
    let _ = if json {
        registry
            .with(fmt.json().flatten_event(true).with_current_span(false))
            .try_init()
    } else {
        registry.with(fmt).try_init()
    };
}

/// `level` for this crate; at most INFO for everything else.
pub fn filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level.min(LevelFilter::INFO))
        .with_target(OURS, level)
}

/// A level name as Lambda and `RUST_LOG` spell it; anything else is INFO.
/// (Lambda also knows FATAL, which is no tracing level: ERROR.)
fn parse_level(text: &str) -> LevelFilter {
    match text.trim().to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "warn" => LevelFilter::WARN,
        "error" | "fatal" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn other_crates_never_log_below_info() {
        let f = filter(LevelFilter::TRACE);
        assert!(f.would_enable("masked_comms::handlers", &Level::TRACE));
        for crate_name in [
            "lambda_runtime::layers::api_response",
            "hyper",
            "reqwest",
            "aws_smithy_runtime",
        ] {
            assert!(!f.would_enable(crate_name, &Level::DEBUG), "{crate_name}");
            assert!(f.would_enable(crate_name, &Level::INFO), "{crate_name}");
        }
        let quiet = filter(LevelFilter::WARN);
        assert!(!quiet.would_enable("lambda_runtime", &Level::INFO));
        assert!(!quiet.would_enable("masked_comms", &Level::INFO));
    }

    #[test]
    fn levels_are_read_as_lambda_spells_them() {
        assert_eq!(parse_level("TRACE"), LevelFilter::TRACE);
        assert_eq!(parse_level(" Debug "), LevelFilter::DEBUG);
        assert_eq!(parse_level("FATAL"), LevelFilter::ERROR);
        assert_eq!(parse_level("lambda_runtime=trace"), LevelFilter::INFO);
    }
}
