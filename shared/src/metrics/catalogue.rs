//! The catalogue: every metric with its unit and dimensions, and the fixed
//! lists of values a dimension or a count can take.

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "MaskedComms";
/// Dimension of every metric: the function's deployed name (Lambda's
/// `AWS_LAMBDA_FUNCTION_NAME`, `${AWS::StackName}-<binary>` in
/// template.yaml), so stacks sharing an account and region stay apart, and
/// the value is the same as `FunctionName` in the `AWS/Lambda` metrics.
/// Outside Lambda, the binary's name.
pub const FUNCTION: &str = "Function";
/// Second dimension of [`CALLS`]: how the call was answered ([`CallOutcome`]).
pub const OUTCOME: &str = "Outcome";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    /// As CloudWatch spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A metric as CloudWatch knows it: name, unit, dimension keys.
#[derive(Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
}

// Per request, from the wrapper; every invocation has these three.
/// The request's time in the function, from the wrapper's start to its answer.
pub const LATENCY: Metric = Metric {
    name: "Latency",
    unit: Unit::Milliseconds,
    dimensions: &[FUNCTION],
};
/// 1 when the answer was 4xx, else 0: its Average is the 4xx rate.
pub const ERRORS_4XX: Metric = Metric {
    name: "Errors4xx",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// 1 when the answer was 5xx, else 0: its Average is the 5xx rate.
pub const ERRORS_5XX: Metric = Metric {
    name: "Errors5xx",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// An operator request refused for want of the right credentials (401).
pub const UNAUTHORIZED: Metric = Metric {
    name: "Unauthorized",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// Sessions, from the session service.
/// A new session made (`POST /sessions`, or for an out-of-session caller).
pub const SESSIONS_CREATED: Metric = Metric {
    name: "SessionsCreated",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A session closed by the API, or cleaned up after Twilio closed it.
pub const SESSIONS_CLOSED: Metric = Metric {
    name: "SessionsClosed",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A create or participant add refused: no free number in the pool.
pub const POOL_EXHAUSTED: Metric = Metric {
    name: "PoolExhausted",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A participant moved to their next candidate number because another
/// session took the first meanwhile (Twilio's 50416).
pub const BINDING_FALLBACKS: Metric = Metric {
    name: "BindingFallbacks",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// Calls, from the inbound-call handler.
/// A call answered, by [`OUTCOME`].
pub const CALLS: Metric = Metric {
    name: "Calls",
    unit: Unit::Count,
    dimensions: &[FUNCTION, OUTCOME],
};
/// A call's session found by the session index.
pub const INDEX_HITS: Metric = Metric {
    name: "IndexHits",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A call's lookup the index could not answer: Twilio was paged instead.
pub const INDEX_MISSES: Metric = Metric {
    name: "IndexMisses",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A lookup the session index could not answer (DynamoDB down, a wrong
/// table, throttling, no answer in time): a call pages Twilio instead, a
/// create answers 503.
pub const INDEX_UNAVAILABLE: Metric = Metric {
    name: "IndexUnavailable",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// Twilio, from its client (every attempt, retries included).
/// How long Twilio took to answer an attempt, one value per attempt.
pub const TWILIO_LATENCY: Metric = Metric {
    name: "TwilioLatency",
    unit: Unit::Milliseconds,
    dimensions: &[FUNCTION],
};
/// An attempt Twilio did not answer usefully: no connection, no answer in
/// time, a 5xx, or our credentials refused (401/403). Refusals that are
/// answers (a number taken, not found) are not errors.
pub const TWILIO_ERRORS: Metric = Metric {
    name: "TwilioErrors",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// An attempt Twilio throttled (429; retried until the budget runs out).
pub const TWILIO_THROTTLED: Metric = Metric {
    name: "TwilioThrottled",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// The intercept (crate::intercept), from inbound-call and conversation-events.
/// How long the backend took to answer (or to fail), one value per ask.
pub const INTERCEPT_LATENCY: Metric = Metric {
    name: "InterceptLatency",
    unit: Unit::Milliseconds,
    dimensions: &[FUNCTION],
};
/// The backend allowed a text or call unchanged.
pub const INTERCEPTS_ALLOWED: Metric = Metric {
    name: "InterceptsAllowed",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// The backend blocked a text or call.
pub const INTERCEPTS_BLOCKED: Metric = Metric {
    name: "InterceptsBlocked",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// The backend rewrote a text.
pub const INTERCEPTS_REWRITTEN: Metric = Metric {
    name: "InterceptsRewritten",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// No usable answer (timeout, error, a bad answer): `intercept/on-error`
/// decided.
pub const INTERCEPTS_FAILED: Metric = Metric {
    name: "InterceptsFailed",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

/// Every metric the functions emit.
pub const ALL: [&Metric; 20] = [
    &LATENCY,
    &ERRORS_4XX,
    &ERRORS_5XX,
    &UNAUTHORIZED,
    &SESSIONS_CREATED,
    &SESSIONS_CLOSED,
    &POOL_EXHAUSTED,
    &BINDING_FALLBACKS,
    &CALLS,
    &INDEX_HITS,
    &INDEX_MISSES,
    &INDEX_UNAVAILABLE,
    &TWILIO_LATENCY,
    &TWILIO_ERRORS,
    &TWILIO_THROTTLED,
    &INTERCEPT_LATENCY,
    &INTERCEPTS_ALLOWED,
    &INTERCEPTS_BLOCKED,
    &INTERCEPTS_REWRITTEN,
    &INTERCEPTS_FAILED,
];

/// How an inbound call was answered: the [`OUTCOME`] of [`CALLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Put through to the one other participant.
    Connected,
    /// Everyone else rung into a conference.
    Conference,
    /// No session binds the caller to the number: the message, or the backend's.
    OutOfSession,
    /// The session takes messages only: refused with a message.
    MessageOnly,
    /// Nobody else in the session can take calls.
    NobodyDialable,
    /// Something failed (configuration, Twilio, the index): an apology.
    Apology,
    /// Out of session, forwarded to the configured number.
    Forwarded,
    /// Out of session, rejected as the configuration says.
    Rejected,
    /// In a session, blocked by the intercept: a message, then hang up.
    Blocked,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 9] = [
        CallOutcome::Connected,
        CallOutcome::Conference,
        CallOutcome::OutOfSession,
        CallOutcome::MessageOnly,
        CallOutcome::NobodyDialable,
        CallOutcome::Apology,
        CallOutcome::Forwarded,
        CallOutcome::Rejected,
        CallOutcome::Blocked,
    ];

    /// The [`OUTCOME`] dimension's value.
    pub const fn name(self) -> &'static str {
        match self {
            CallOutcome::Connected => "Connected",
            CallOutcome::Conference => "Conference",
            CallOutcome::OutOfSession => "OutOfSession",
            CallOutcome::MessageOnly => "MessageOnly",
            CallOutcome::NobodyDialable => "NobodyDialable",
            CallOutcome::Apology => "Apology",
            CallOutcome::Forwarded => "Forwarded",
            CallOutcome::Rejected => "Rejected",
            CallOutcome::Blocked => "Blocked",
        }
    }
}

/// The facts counted one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Unauthorized,
    SessionsCreated,
    SessionsClosed,
    PoolExhausted,
    BindingFallbacks,
    IndexHits,
    IndexMisses,
    IndexUnavailable,
    TwilioErrors,
    TwilioThrottled,
    InterceptsAllowed,
    InterceptsBlocked,
    InterceptsRewritten,
    InterceptsFailed,
}

impl Count {
    pub(super) const ALL: [Count; 14] = [
        Count::Unauthorized,
        Count::SessionsCreated,
        Count::SessionsClosed,
        Count::PoolExhausted,
        Count::BindingFallbacks,
        Count::IndexHits,
        Count::IndexMisses,
        Count::IndexUnavailable,
        Count::TwilioErrors,
        Count::TwilioThrottled,
        Count::InterceptsAllowed,
        Count::InterceptsBlocked,
        Count::InterceptsRewritten,
        Count::InterceptsFailed,
    ];

    pub(super) const fn metric(self) -> &'static Metric {
        match self {
            Count::Unauthorized => &UNAUTHORIZED,
            Count::SessionsCreated => &SESSIONS_CREATED,
            Count::SessionsClosed => &SESSIONS_CLOSED,
            Count::PoolExhausted => &POOL_EXHAUSTED,
            Count::BindingFallbacks => &BINDING_FALLBACKS,
            Count::IndexHits => &INDEX_HITS,
            Count::IndexMisses => &INDEX_MISSES,
            Count::IndexUnavailable => &INDEX_UNAVAILABLE,
            Count::TwilioErrors => &TWILIO_ERRORS,
            Count::TwilioThrottled => &TWILIO_THROTTLED,
            Count::InterceptsAllowed => &INTERCEPTS_ALLOWED,
            Count::InterceptsBlocked => &INTERCEPTS_BLOCKED,
            Count::InterceptsRewritten => &INTERCEPTS_REWRITTEN,
            Count::InterceptsFailed => &INTERCEPTS_FAILED,
        }
    }
}
