//! State shared by the HTTP handlers and the `Emulator` handle, and the operations both use.

use std::{
    sync::{atomic::AtomicUsize, Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::{
    calls::{self, CompletedCall, Ended, Env, InboundCall},
    clock::now_unix,
    faults::{FaultBook, RateLimiter},
    holds::HoldBook,
    messaging::{
        self, DeliverySnapshot, InboundTextSnapshot, Incoming, PreEventDecision, TextOutcome,
    },
    numbers::{NumberUpdate, PhoneNumber, PhoneNumberSnapshot},
    recording::RecordedRequest,
    resources::Ctx,
    state::{
        new_sid, parse_address, ConversationParams, ConversationState, ParticipantParams, State,
        StateChange,
    },
    twiml,
    webhooks::{self, HttpMethod, Outgoing, WebhookDelivery, WebhookOutcome},
    ConversationSeed, EmulatorConfig,
};

/// The post-event for conversation state changes.
const STATE_UPDATED: &str = "onConversationStateUpdated";
/// The pre- and post-event of a new message.
const MESSAGE_ADD: &str = "onMessageAdd";
const MESSAGE_ADDED: &str = "onMessageAdded";

/// Locks a mutex, shrugging off poisoning: a panicking test must not wedge the emulator.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where a call is kept.
enum CallIndex {
    Inbound(usize),
    Api(usize),
}

/// The numbers named in the configuration, validated and given their sids.
pub(crate) fn initial_numbers(numbers: &[String]) -> Result<Vec<PhoneNumber>, String> {
    let mut state = State::default();
    for number in numbers {
        state.add_number(PhoneNumber::new(number, now_unix())?)?;
    }
    Ok(state.numbers)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct WebhookTargets {
    pub voice_url: Option<String>,
    pub events_url: Option<String>,
}

pub(crate) struct Shared {
    pub auth_token: String,
    pub ctx: Ctx,
    pub default_messaging_service_sid: String,
    /// The configuration at start, restored by `reset`.
    pub initial: EmulatorConfig,
    /// The numbers owned at start (with their sids), restored by `reset`.
    pub initial_numbers: Vec<PhoneNumber>,
    /// Twilio's resources. One mutex: rule checks and writes are atomic together.
    pub state: Mutex<State>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub faults: Mutex<FaultBook>,
    /// Requests a test holds until it lets them go.
    pub holds: HoldBook,
    pub latency: Mutex<Duration>,
    pub rate: Mutex<RateLimiter>,
    pub webhooks: Mutex<WebhookTargets>,
    pub deliveries: Mutex<Vec<WebhookDelivery>>,
    pub connections: Arc<AtomicUsize>,
    /// Flips to true when the emulator stops; hung requests watch it.
    pub shutdown: watch::Receiver<bool>,
    pub http: reqwest::Client,
    /// Zero point for the control API's millisecond timestamps.
    pub epoch: Instant,
    /// How long configured Conversations webhooks may take to answer.
    pub conversations_webhook_timeout: Duration,
}

impl Shared {
    pub(crate) fn new(
        config: EmulatorConfig,
        numbers: Vec<PhoneNumber>,
        base_url: String,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let ctx = Ctx {
            base_url,
            account_sid: config.account_sid.clone(),
            chat_service_sid: new_sid("IS"),
        };
        Self {
            auth_token: config.auth_token.clone(),
            ctx,
            default_messaging_service_sid: new_sid("MG"),
            state: Mutex::new(State::with_numbers(numbers.clone())),
            initial_numbers: numbers,
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultBook::default()),
            holds: HoldBook::default(),
            latency: Mutex::new(config.latency),
            rate: Mutex::new(RateLimiter::new(config.conversation_creates_per_second)),
            webhooks: Mutex::new(WebhookTargets {
                voice_url: config.voice_url.clone(),
                events_url: config.events_url.clone(),
            }),
            deliveries: Mutex::new(Vec::new()),
            connections: Arc::new(AtomicUsize::new(0)),
            shutdown,
            http: reqwest::Client::new(),
            epoch: Instant::now(),
            conversations_webhook_timeout: config.conversations_webhook_timeout,
            initial: config,
        }
    }

    /// Back to a fresh emulator (same sids, port and connection counter).
    pub(crate) fn reset(&self) {
        *lock(&self.state) = State::with_numbers(self.initial_numbers.clone());
        lock(&self.requests).clear();
        lock(&self.faults).clear();
        self.holds.clear();
        lock(&self.deliveries).clear();
        *lock(&self.latency) = self.initial.latency;
        lock(&self.rate).set(self.initial.conversation_creates_per_second);
        *lock(&self.webhooks) = WebhookTargets {
            voice_url: self.initial.voice_url.clone(),
            events_url: self.initial.events_url.clone(),
        };
    }

    /// Sends one webhook and records it.
    pub(crate) async fn deliver(&self, outgoing: Outgoing) -> WebhookDelivery {
        let delivery = webhooks::send_signed(&self.http, &self.auth_token, outgoing).await;
        match &delivery.outcome {
            Ok(o) => tracing::info!(kind = delivery.kind, status = o.status, "webhook delivered"),
            Err(e) => tracing::info!(kind = delivery.kind, error = %e, "webhook failed"),
        }
        lock(&self.deliveries).push(delivery.clone());
        delivery
    }

    /// An inbound call: Twilio's voice webhook to the number's own voice URL, else the
    /// global one. The call is kept, with our answer, until it is completed. Returns the
    /// call sid and what our webhook answered.
    pub(crate) async fn place_call(
        &self,
        from: &str,
        to: &str,
    ) -> Result<(String, WebhookOutcome), String> {
        let own = lock(&self.state)
            .number(to)
            .and_then(PhoneNumber::voice_target);
        let (method, url) = match own {
            Some(target) => target,
            None => (
                HttpMethod::Post,
                lock(&self.webhooks)
                    .voice_url
                    .clone()
                    .ok_or("no voice_url is configured")?,
            ),
        };
        let call_sid = new_sid("CA");
        tracing::debug!(%call_sid, from, to, "placing inbound call");
        let params = webhooks::inbound_call_params(&self.ctx.account_sid, &call_sid, from, to);
        let mut outgoing = Outgoing::post("voice", url.clone(), params);
        outgoing.method = method;
        let answer = self.deliver(outgoing).await.outcome;
        let mut state = lock(&self.state);
        let seq = state.next_call_seq();
        state.inbound_calls.push(InboundCall {
            sid: call_sid.clone(),
            seq,
            from: from.to_owned(),
            to: to.to_owned(),
            url,
            answer: answer.clone(),
            ended: None,
        });
        answer.map(|outcome| (call_sid, outcome))
    }

    /// Ends a call (`None`: the latest one still going) after `duration` seconds of
    /// talk, and sends the callbacks that ending makes, in order.
    pub(crate) async fn complete_call(
        &self,
        call_sid: Option<&str>,
        duration: u64,
    ) -> Result<CompletedCall, String> {
        let env = Env {
            account_sid: &self.ctx.account_sid,
            base_url: &self.ctx.base_url,
            now: now_unix(),
        };
        let (call_sid, ending) = {
            let mut state = lock(&self.state);
            let found = match call_sid {
                Some(sid) => state
                    .inbound_calls
                    .iter()
                    .position(|c| c.sid == sid)
                    .map(CallIndex::Inbound)
                    .or_else(|| {
                        state
                            .calls
                            .iter()
                            .position(|c| c.sid == sid)
                            .map(CallIndex::Api)
                    })
                    .ok_or_else(|| format!("no call {sid}"))?,
                None => {
                    let inbound = state.inbound_calls.iter().enumerate().filter_map(|(i, c)| {
                        c.ended.is_none().then_some((c.seq, CallIndex::Inbound(i)))
                    });
                    let api = state.calls.iter().enumerate().filter_map(|(i, c)| {
                        c.ended.is_none().then_some((c.seq, CallIndex::Api(i)))
                    });
                    inbound
                        .chain(api)
                        .max_by_key(|(seq, _)| *seq)
                        .map(|(_, found)| found)
                        .ok_or("no call is going")?
                }
            };
            let ended = Some(Ended { duration });
            match found {
                CallIndex::Inbound(i) => {
                    let call = &mut state.inbound_calls[i];
                    if call.ended.is_some() {
                        return Err(format!("call {} has already ended", call.sid));
                    }
                    call.ended = ended;
                    let call = call.clone();
                    let status = state
                        .number(&call.to)
                        .and_then(PhoneNumber::status_callback_target);
                    let ending = calls::end_inbound(&env, &call, status, duration);
                    (call.sid, ending)
                }
                CallIndex::Api(i) => {
                    let call = &mut state.calls[i];
                    if call.ended.is_some() {
                        return Err(format!("call {} has already ended", call.sid));
                    }
                    call.ended = ended;
                    let call = call.clone();
                    let ending = calls::end_api_call(&env, &call, duration);
                    (call.sid, ending)
                }
            }
        };
        let recording_sids = ending.recordings.iter().map(|r| r.sid.clone()).collect();
        lock(&self.state).recordings.extend(ending.recordings);
        let mut callbacks = Vec::new();
        for outgoing in ending.callbacks {
            callbacks.push(self.deliver(outgoing).await);
        }
        Ok(CompletedCall {
            call_sid,
            child_call_sid: ending.child_call_sid,
            recording_sids,
            callbacks,
        })
    }

    /// A text from `from` arriving at our number `to`, routed as Twilio routes it (see
    /// the `messaging` module). Errors only for addresses Twilio could not carry.
    pub(crate) async fn send_message(
        &self,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<TextOutcome, String> {
        let (Some(channel), Some(to_channel)) = (parse_address(from), parse_address(to)) else {
            return Err(format!(
                "{from} -> {to}: not E.164 (or whatsapp:E.164) addresses"
            ));
        };
        if channel != to_channel {
            return Err("both addresses carry whatsapp:, or neither does".into());
        }
        let bound = {
            let state = lock(&self.state);
            state.binding_holder(from, to).map(|(ci, pi)| {
                let conversation = &state.conversations[ci];
                Incoming {
                    conversation_sid: conversation.sid.clone(),
                    messaging_service_sid: conversation.messaging_service_sid.clone(),
                    participant_sid: conversation.participants[pi].sid.clone(),
                    author: from.to_owned(),
                    body: body.to_owned(),
                    attributes: "{}".to_owned(),
                    source: messaging::source(channel),
                }
            })
        };
        let outcome = match bound {
            Some(incoming) => self.text_to_conversation(incoming).await,
            None => self.text_to_number(from, to, body).await,
        };
        lock(&self.state).texts.push(InboundTextSnapshot {
            from: from.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
            outcome: outcome.clone(),
        });
        Ok(outcome)
    }

    /// Conversations takes a text: pre-event, message, deliveries, post-events.
    async fn text_to_conversation(&self, mut incoming: Incoming) -> TextOutcome {
        let now = now_unix();
        let pre_event = lock(&self.state)
            .conversations_webhooks
            .pre_event(MESSAGE_ADD);
        let mut pre_event_status = None;
        if let Some(target) = pre_event {
            let params = messaging::message_add_params(
                &self.ctx.account_sid,
                &self.ctx.chat_service_sid,
                &incoming,
                now,
            );
            let delivery = self
                .deliver(Outgoing {
                    kind: "pre-event",
                    method: target.method,
                    url: target.url,
                    params,
                    timeout: self.conversations_webhook_timeout,
                })
                .await;
            pre_event_status = delivery.outcome.as_ref().ok().map(|o| o.status);
            match PreEventDecision::from_answer(&delivery.outcome) {
                PreEventDecision::Reject(status) => {
                    return TextOutcome::Rejected {
                        conversation_sid: incoming.conversation_sid,
                        status,
                    }
                }
                PreEventDecision::Proceed {
                    body,
                    author,
                    attributes,
                } => {
                    incoming.body = body.unwrap_or(incoming.body);
                    incoming.author = author.unwrap_or(incoming.author);
                    incoming.attributes = attributes.unwrap_or(incoming.attributes);
                }
            }
        }
        let added = match lock(&self.state).add_message(&incoming, now_unix()) {
            Ok(added) => added,
            Err(reason) => return TextOutcome::Dropped { reason },
        };
        let params = messaging::message_added_params(
            &self.ctx.account_sid,
            &self.ctx.chat_service_sid,
            &incoming,
            &added.message,
        );
        self.send_post_event(MESSAGE_ADDED, params, true).await;
        if let Some(change) = &added.woke {
            self.send_state_updated(change, true).await;
        }
        TextOutcome::Added {
            conversation_sid: incoming.conversation_sid,
            message_sid: added.message.sid,
            body: added.message.body,
            pre_event_status,
        }
    }

    /// No conversation takes a text: the number's messaging webhook, and its replies.
    async fn text_to_number(&self, from: &str, to: &str, body: &str) -> TextOutcome {
        let target = {
            let state = lock(&self.state);
            // An auto-creating Address Configuration takes the text first.
            if let Some(found) = state
                .address_configurations
                .iter()
                .find(|a| a.auto_creates_for(to))
            {
                return TextOutcome::Dropped {
                    reason: format!(
                        "Address Configuration {} auto-creates a conversation for texts to {to}; its SmsUrl never sees them",
                        found.sid
                    ),
                };
            }
            match state.number(to) {
                None => Err(format!("the emulator does not own {to}")),
                Some(number) => {
                    number
                        .sms_target()
                        .ok_or_else(|| match number.sms_application_sid {
                            Some(_) => {
                                format!("{to} has an SmsApplicationSid, which takes its texts")
                            }
                            None => format!("{to} has no SmsUrl"),
                        })
                }
            }
        };
        let (method, url) = match target {
            Ok(target) => target,
            Err(reason) => return TextOutcome::Dropped { reason },
        };
        let params = messaging::sms_params(
            &self.ctx.account_sid,
            &new_sid("SM"),
            from,
            to,
            body,
            webhooks::country_of(from),
            webhooks::country_of(to),
        );
        let mut outgoing = Outgoing::post("messaging", url.clone(), params);
        outgoing.method = method;
        let answer = self.deliver(outgoing).await.outcome;
        let state = lock(&self.state);
        let replies: Vec<DeliverySnapshot> = answer
            .as_ref()
            .ok()
            .filter(|o| (200..300).contains(&o.status))
            .and_then(|o| twiml::messages(&o.body).ok())
            .unwrap_or_default()
            .into_iter()
            // Twilio sends only from the account's own numbers (error 21606).
            .filter(|reply| {
                reply
                    .from
                    .as_deref()
                    .is_none_or(|from| state.number(from).is_some())
            })
            .map(|reply| DeliverySnapshot {
                to: reply.to.unwrap_or_else(|| from.to_owned()),
                from: reply.from.unwrap_or_else(|| to.to_owned()),
                body: reply.body,
                conversation_sid: None,
                message_sid: None,
            })
            .collect();
        drop(state);
        lock(&self.state)
            .outbound_texts
            .extend(replies.iter().cloned());
        TextOutcome::SentToSmsUrl {
            url,
            answer,
            replies,
        }
    }

    /// Owns one more number, configured with `update` from the start.
    pub(crate) fn add_phone_number(
        &self,
        number: &str,
        update: NumberUpdate,
    ) -> Result<PhoneNumberSnapshot, String> {
        let now = now_unix();
        let mut number = PhoneNumber::new(number, now)?;
        number.apply(update, now);
        lock(&self.state)
            .add_number(number)
            .map(PhoneNumberSnapshot::from)
    }

    /// Where a post-event goes when Twilio would send one (`fires`: not for a REST change
    /// without `X-Twilio-Webhook-Enabled: true`): the emulator's own events URL (state
    /// updates only, as before Twilio's configuration was emulated) and the configured
    /// post-event webhook if its filters include the event. One URL never gets the same
    /// event twice.
    fn post_event_targets(&self, event: &str, fires: bool) -> Vec<Outgoing> {
        let mut targets = Vec::new();
        if !fires {
            return targets;
        }
        if event == STATE_UPDATED {
            if let Some(url) = lock(&self.webhooks).events_url.clone() {
                targets.push(Outgoing::post("events", url, Vec::new()));
            }
        }
        let configured = lock(&self.state).conversations_webhooks.post_event(event);
        if let Some(target) = configured {
            if !targets.iter().any(|t| t.url == target.url) {
                targets.push(Outgoing {
                    kind: "post-event",
                    method: target.method,
                    url: target.url,
                    params: Vec::new(),
                    timeout: self.conversations_webhook_timeout,
                });
            }
        }
        targets
    }

    /// Sends a post-event to every target it has, in order.
    pub(crate) async fn send_post_event(
        &self,
        event: &str,
        params: Vec<(String, String)>,
        configured: bool,
    ) -> Vec<WebhookDelivery> {
        let mut deliveries = Vec::new();
        for mut target in self.post_event_targets(event, configured) {
            target.params = params.clone();
            deliveries.push(self.deliver(target).await);
        }
        deliveries
    }

    /// `onConversationStateUpdated` for a change, to the events URL and the configured
    /// post-event webhook, when Twilio would send it (`configured`).
    pub(crate) async fn send_state_updated(
        &self,
        change: &StateChange,
        configured: bool,
    ) -> Vec<WebhookDelivery> {
        let params = webhooks::state_updated_params(
            &self.ctx.account_sid,
            &self.ctx.chat_service_sid,
            change,
        );
        self.send_post_event(STATE_UPDATED, params, configured)
            .await
    }

    /// Closes a conversation as Twilio's timer or console would, then sends the state
    /// update. Refuses (changing nothing) when the event would go nowhere: no events URL
    /// and no configured post-event webhook for it. Answers with the first delivery's
    /// outcome (the events URL's when both exist).
    pub(crate) async fn close_conversation(&self, sid: &str) -> Result<WebhookOutcome, String> {
        if self.post_event_targets(STATE_UPDATED, true).is_empty() {
            return Err(
                "no events_url, and no post-event webhook for onConversationStateUpdated, is configured"
                    .into(),
            );
        }
        let change = lock(&self.state)
            .close(sid, now_unix())
            .map_err(|e| e.message)?;
        self.send_state_updated(&change, true)
            .await
            .into_iter()
            .next()
            .map(|d| d.outcome)
            .unwrap_or_else(|| Err("the webhooks were removed while closing".into()))
    }

    /// Creates state directly, bypassing HTTP, faults and recording (but not the rules).
    pub(crate) fn seed_conversation(&self, seed: ConversationSeed) -> Result<String, String> {
        let now = now_unix();
        let mut state = lock(&self.state);
        let params = ConversationParams {
            friendly_name: seed.friendly_name,
            unique_name: seed.unique_name,
            attributes: seed.attributes,
            messaging_service_sid: seed.messaging_service_sid,
            state: None,
            timers_inactive: None,
            timers_closed: None,
        };
        let index = state
            .create_conversation(params, &self.default_messaging_service_sid, now)
            .map_err(|e| e.message)?;
        let sid = state.conversations[index].sid.clone();
        for (address, proxy_address) in seed.bindings {
            let params = ParticipantParams {
                address: Some(address),
                proxy_address: Some(proxy_address),
                ..Default::default()
            };
            if let Err(e) = state.add_participant(&sid, params, now) {
                // Leave nothing half-seeded behind.
                let _ = state.delete_conversation(&sid);
                return Err(e.message);
            }
        }
        match seed.state {
            ConversationState::Closed => {
                state.close(&sid, now).map_err(|e| e.message)?;
            }
            other => {
                let index = state.find(&sid).expect("just created");
                state.conversations[index].state = other;
            }
        }
        Ok(sid)
    }
}
