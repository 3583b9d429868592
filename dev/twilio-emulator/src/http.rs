//! The Twilio-facing HTTP surface: routing, auth, latency, faults, rate limit, recording,
//! and the handlers themselves.
//!
//! One dispatcher serves every Twilio path (both the Conversations host's `/v1/...` and the
//! REST host's `/2010-04-01/...`), so the cross-cutting steps run in one visible order:
//! auth -> route -> latency -> a test's hold -> injected fault -> rate limit -> handler -> record.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use base64::Engine as _;
use serde_json::Value;
use url::form_urlencoded;

use crate::{
    addresses::{self, AddressConfiguration},
    calls::{Call, Env},
    clock::now_unix,
    conversations_webhooks::WebhookUpdate,
    errors::{codes, TwilioError},
    faults::{Fault, Operation},
    net::ConnInfo,
    numbers::NumberUpdate,
    outbound_messages::SentMessageSnapshot,
    paging::PageRequest,
    params::{percent_decode, Params},
    recording::RecordedRequest,
    resources,
    server::{lock, Shared},
    state::{ParticipantParams, StateChange},
};

/// How long a `Hang` fault holds a request: longer than any client timeout we use.
const HANG_FOR: Duration = Duration::from_secs(120);

/// A recognised Twilio route and its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    CreateConversation,
    FetchConversation(String),
    UpdateConversation(String),
    DeleteConversation(String),
    CreateParticipant(String),
    ListParticipants(String),
    FetchParticipant(String, String),
    ListMessages(String),
    DeleteParticipant(String, String),
    ListParticipantConversations,
    CreateCall { account_sid: String },
    FetchConfiguration,
    ListAddressConfigurations,
    CreateAddressConfiguration,
    CreateMessage { account_sid: String },
    FetchConfigurationWebhooks,
    UpdateConfigurationWebhooks,
    FetchServiceWebhookConfiguration(String),
    UpdateServiceWebhookConfiguration(String),
    FetchRecording { account_sid: String, sid: String },
    DeleteRecording { account_sid: String, sid: String },
    ListIncomingPhoneNumbers { account_sid: String },
    FetchIncomingPhoneNumber { account_sid: String, sid: String },
    UpdateIncomingPhoneNumber { account_sid: String, sid: String },
}

impl Route {
    fn classify(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "Conversations"]) => Self::CreateConversation,
            ("GET", ["v1", "Conversations", id]) => Self::FetchConversation((*id).to_owned()),
            ("POST", ["v1", "Conversations", id]) => Self::UpdateConversation((*id).to_owned()),
            ("DELETE", ["v1", "Conversations", id]) => Self::DeleteConversation((*id).to_owned()),
            ("POST", ["v1", "Conversations", id, "Participants"]) => {
                Self::CreateParticipant((*id).to_owned())
            }
            ("GET", ["v1", "Conversations", id, "Participants"]) => {
                Self::ListParticipants((*id).to_owned())
            }
            ("GET", ["v1", "Conversations", id, "Messages"]) => {
                Self::ListMessages((*id).to_owned())
            }
            ("GET", ["v1", "Conversations", id, "Participants", sid]) => {
                Self::FetchParticipant((*id).to_owned(), (*sid).to_owned())
            }
            ("DELETE", ["v1", "Conversations", id, "Participants", sid]) => {
                Self::DeleteParticipant((*id).to_owned(), (*sid).to_owned())
            }
            ("GET", ["v1", "ParticipantConversations"]) => Self::ListParticipantConversations,
            ("POST", ["2010-04-01", "Accounts", account, "Calls.json"]) => Self::CreateCall {
                account_sid: (*account).to_owned(),
            },
            ("POST", ["2010-04-01", "Accounts", account, "Messages.json"]) => Self::CreateMessage {
                account_sid: (*account).to_owned(),
            },
            ("GET", ["2010-04-01", "Accounts", account, "Recordings", file]) => {
                Self::FetchRecording {
                    account_sid: (*account).to_owned(),
                    sid: json_resource(file)?,
                }
            }
            ("DELETE", ["2010-04-01", "Accounts", account, "Recordings", file]) => {
                Self::DeleteRecording {
                    account_sid: (*account).to_owned(),
                    sid: json_resource(file)?,
                }
            }
            ("GET", ["2010-04-01", "Accounts", account, "IncomingPhoneNumbers.json"]) => {
                Self::ListIncomingPhoneNumbers {
                    account_sid: (*account).to_owned(),
                }
            }
            ("GET", ["2010-04-01", "Accounts", account, "IncomingPhoneNumbers", file]) => {
                Self::FetchIncomingPhoneNumber {
                    account_sid: (*account).to_owned(),
                    sid: json_resource(file)?,
                }
            }
            ("POST", ["2010-04-01", "Accounts", account, "IncomingPhoneNumbers", file]) => {
                Self::UpdateIncomingPhoneNumber {
                    account_sid: (*account).to_owned(),
                    sid: json_resource(file)?,
                }
            }
            ("GET", ["v1", "Configuration"]) => Self::FetchConfiguration,
            ("GET", ["v1", "Configuration", "Addresses"]) => Self::ListAddressConfigurations,
            ("POST", ["v1", "Configuration", "Addresses"]) => Self::CreateAddressConfiguration,
            ("GET", ["v1", "Configuration", "Webhooks"]) => Self::FetchConfigurationWebhooks,
            ("POST", ["v1", "Configuration", "Webhooks"]) => Self::UpdateConfigurationWebhooks,
            ("GET", ["v1", "Services", service, "Configuration", "Webhooks"]) => {
                Self::FetchServiceWebhookConfiguration((*service).to_owned())
            }
            ("POST", ["v1", "Services", service, "Configuration", "Webhooks"]) => {
                Self::UpdateServiceWebhookConfiguration((*service).to_owned())
            }
            _ => return None,
        };
        Some(route)
    }

    fn operation(&self) -> Operation {
        match self {
            Self::CreateConversation => Operation::CreateConversation,
            Self::FetchConversation(_) => Operation::FetchConversation,
            Self::UpdateConversation(_) => Operation::UpdateConversation,
            Self::DeleteConversation(_) => Operation::DeleteConversation,
            Self::CreateParticipant(_) => Operation::CreateParticipant,
            Self::ListParticipants(_) => Operation::ListParticipants,
            Self::FetchParticipant(..) => Operation::FetchParticipant,
            Self::ListMessages(_) => Operation::ListMessages,
            Self::DeleteParticipant(..) => Operation::DeleteParticipant,
            Self::ListParticipantConversations => Operation::ListParticipantConversations,
            Self::CreateCall { .. } => Operation::CreateCall,
            Self::FetchConfiguration => Operation::FetchConfiguration,
            Self::ListAddressConfigurations => Operation::ListAddressConfigurations,
            Self::CreateAddressConfiguration => Operation::CreateAddressConfiguration,
            Self::CreateMessage { .. } => Operation::CreateMessage,
            Self::FetchConfigurationWebhooks => Operation::FetchConfigurationWebhooks,
            Self::UpdateConfigurationWebhooks => Operation::UpdateConfigurationWebhooks,
            Self::FetchServiceWebhookConfiguration(_) => {
                Operation::FetchServiceWebhookConfiguration
            }
            Self::UpdateServiceWebhookConfiguration(_) => {
                Operation::UpdateServiceWebhookConfiguration
            }
            Self::FetchRecording { .. } => Operation::FetchRecording,
            Self::DeleteRecording { .. } => Operation::DeleteRecording,
            Self::ListIncomingPhoneNumbers { .. } => Operation::ListIncomingPhoneNumbers,
            Self::FetchIncomingPhoneNumber { .. } => Operation::FetchIncomingPhoneNumber,
            Self::UpdateIncomingPhoneNumber { .. } => Operation::UpdateIncomingPhoneNumber,
        }
    }
}

/// The sid in an API 2010 resource path segment such as `PN123.json`.
fn json_resource(segment: &str) -> Option<String> {
    segment
        .strip_suffix(".json")
        .filter(|sid| !sid.is_empty())
        .map(str::to_owned)
}

/// What the pipeline decided to do with a request.
enum Reply {
    Http(Response),
    Reset,
    Hang,
}

impl From<TwilioError> for Reply {
    fn from(e: TwilioError) -> Self {
        Reply::Http(e.into_response())
    }
}

/// The single entry point for every Twilio path (the router's fallback).
pub(crate) async fn dispatch(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let route = Route::classify(&method, &path);
    let operation = route.as_ref().map_or(Operation::Unknown, Route::operation);

    let reply = pipeline(&shared, route, &path, &headers, &query, &form).await;

    let status = match &reply {
        Reply::Http(response) => response.status().as_u16(),
        Reply::Reset | Reply::Hang => 0,
    };
    tracing::info!(
        ?operation,
        status,
        connection_id = conn.id,
        "twilio request"
    );
    tracing::debug!(?operation, %method, %path, ?form, "twilio request detail");
    // Recorded before a hang starts, so tests see it while the client is still waiting.
    lock(&shared.requests).push(RecordedRequest {
        operation,
        method: method.to_string(),
        path,
        query,
        form,
        status,
        started,
        finished: Instant::now(),
        connection_id: conn.id,
    });

    match reply {
        Reply::Http(response) => response,
        Reply::Hang => {
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(HANG_FOR) => {}
                _ = shutdown.wait_for(|stopped| *stopped) => {}
            }
            conn.reset();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Reply::Reset => {
            // This response is never written: the connection refuses all further I/O.
            conn.reset();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Auth, routing, latency, faults and rate limit, then the handler.
async fn pipeline(
    shared: &Arc<Shared>,
    route: Option<Route>,
    path: &str,
    headers: &HeaderMap,
    query: &str,
    form: &[(String, String)],
) -> Reply {
    if !authorized(shared, headers) {
        return TwilioError::unauthenticated().into();
    }
    let Some(route) = route else {
        return TwilioError::not_found(path).into();
    };

    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let operation = route.operation();
    shared
        .holds
        .wait_if_held(operation, shared.shutdown.clone())
        .await;
    let fault = lock(&shared.faults).take(operation);
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            return TwilioError::for_status(status, retry_after).into();
        }
        Some(Fault::Hang) => return Reply::Hang,
        Some(Fault::Reset) => return Reply::Reset,
        Some(Fault::Delay { .. }) | None => {}
    }

    if operation == Operation::CreateConversation && !lock(&shared.rate).try_acquire(Instant::now())
    {
        return TwilioError::too_many_requests(Some(1)).into();
    }

    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    // REST changes fire configured Conversations webhooks only when the request asks.
    let webhooks_enabled = headers
        .get("x-twilio-webhook-enabled")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let reply = match handle(shared, route, &Params(form), &query, webhooks_enabled) {
        Ok(response) => Reply::Http(response),
        Err(e) => e.into(),
    };
    // A slow answer: what it says was true when the request came.
    if let Some(Fault::Delay { ms }) = fault {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    reply
}

/// HTTP Basic with AccountSid:AuthToken.
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", shared.ctx.account_sid, shared.auth_token);
    decoded == expected.as_bytes()
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn handle(
    shared: &Arc<Shared>,
    route: Route,
    form: &Params<'_>,
    query: &[(String, String)],
    webhooks_enabled: bool,
) -> Result<Response, TwilioError> {
    let ctx = &shared.ctx;
    let now = now_unix();
    match route {
        Route::CreateConversation => {
            let params = form.conversation_params()?;
            let mut state = lock(&shared.state);
            let index =
                state.create_conversation(params, &shared.default_messaging_service_sid, now)?;
            Ok(created(resources::conversation(
                ctx,
                &state.conversations[index],
            )))
        }
        Route::FetchConversation(id) => {
            let state = lock(&shared.state);
            let index = state
                .find(&id)
                .ok_or_else(|| TwilioError::not_found(&format!("/Conversations/{id}")))?;
            Ok(ok(resources::conversation(
                ctx,
                &state.conversations[index],
            )))
        }
        Route::UpdateConversation(id) => {
            let params = form.conversation_params()?;
            let (body, change) = {
                let mut state = lock(&shared.state);
                let (index, change) = state.update_conversation(&id, params, now)?;
                (
                    resources::conversation(ctx, &state.conversations[index]),
                    change,
                )
            };
            if let Some(change) = change {
                spawn_state_updated(shared, change, webhooks_enabled);
            }
            Ok(ok(body))
        }
        Route::DeleteConversation(id) => {
            lock(&shared.state).delete_conversation(&id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Route::CreateParticipant(id) => {
            let params = ParticipantParams {
                address: form.owned("MessagingBinding.Address"),
                proxy_address: form.owned("MessagingBinding.ProxyAddress"),
                identity: form.owned("Identity"),
                attributes: form.attributes()?,
            };
            // Check and insert under one lock: concurrent creates race like on Twilio.
            let mut state = lock(&shared.state);
            let (ci, pi) = state.add_participant(&id, params, now)?;
            let conversation = &state.conversations[ci];
            Ok(created(resources::participant(
                ctx,
                &conversation.sid,
                &conversation.participants[pi],
            )))
        }
        Route::ListParticipants(id) => {
            let page = PageRequest::parse(query, 50, 100)?;
            let state = lock(&shared.state);
            let index = state
                .find(&id)
                .ok_or_else(|| TwilioError::not_found(&format!("/Conversations/{id}")))?;
            let conversation = &state.conversations[index];
            let items = conversation
                .participants
                .iter()
                .map(|p| resources::participant(ctx, &conversation.sid, p))
                .collect();
            let path = format!("/v1/Conversations/{id}/Participants");
            Ok(ok(page.respond(
                items,
                "participants",
                &ctx.base_url,
                &path,
            )))
        }
        Route::ListMessages(id) => {
            let page = PageRequest::parse(query, 50, 100)?;
            let newest_first = match Params(query).get("Order") {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(TwilioError::bad_request(
                        codes::INVALID_PARAMETER,
                        format!("Order must be asc or desc, got {other}"),
                    ))
                }
            };
            let state = lock(&shared.state);
            let index = state
                .find(&id)
                .ok_or_else(|| TwilioError::not_found(&format!("/Conversations/{id}")))?;
            let conversation = &state.conversations[index];
            let mut items: Vec<Value> = conversation
                .messages
                .iter()
                .map(|m| resources::message(ctx, &conversation.sid, m))
                .collect();
            if newest_first {
                items.reverse();
            }
            let path = format!("/v1/Conversations/{id}/Messages");
            Ok(ok(page.respond(items, "messages", &ctx.base_url, &path)))
        }
        Route::FetchParticipant(id, sid) => {
            let state = lock(&shared.state);
            let (ci, pi) = state.find_participant(&id, &sid)?;
            let conversation = &state.conversations[ci];
            Ok(ok(resources::participant(
                ctx,
                &conversation.sid,
                &conversation.participants[pi],
            )))
        }
        Route::DeleteParticipant(id, sid) => {
            lock(&shared.state).remove_participant(&id, &sid, now)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Route::ListParticipantConversations => {
            let page = PageRequest::parse(query, 50, 50)?;
            let q = Params(query);
            let (address, identity) = (q.get("Address"), q.get("Identity"));
            if address.is_none() && identity.is_none() {
                return Err(TwilioError::bad_request(
                    codes::INVALID_PARAMETER,
                    "Either Address or Identity must be specified",
                ));
            }
            let state = lock(&shared.state);
            let items = state
                .participant_conversations(address, identity)
                .into_iter()
                .map(|(c, p)| resources::participant_conversation(ctx, c, p))
                .collect();
            Ok(ok(page.respond(
                items,
                "conversations",
                &ctx.base_url,
                "/v1/ParticipantConversations",
            )))
        }
        Route::CreateCall { account_sid } => {
            own_account(
                ctx,
                &account_sid,
                &format!("/Accounts/{account_sid}/Calls.json"),
            )?;
            let mut state = lock(&shared.state);
            let seq = state.next_call_seq();
            let call = Call::from_form(form.0, seq, now)?;
            let body = resources::call(ctx, &call);
            state.calls.push(call);
            Ok(created(body))
        }
        Route::CreateMessage { account_sid } => {
            own_account(
                ctx,
                &account_sid,
                &format!("/Accounts/{account_sid}/Messages.json"),
            )?;
            let mut state = lock(&shared.state);
            let message = SentMessageSnapshot::from_form(form.0, &state.numbers, now)?;
            let body = message.resource(ctx);
            state.sent_messages.push(message);
            Ok(created(body))
        }
        Route::FetchRecording { account_sid, sid } => {
            let path = format!("/2010-04-01/Accounts/{account_sid}/Recordings/{sid}.json");
            own_account(ctx, &account_sid, &path)?;
            let state = lock(&shared.state);
            let recording = state
                .recordings
                .iter()
                .find(|r| r.sid == sid)
                .ok_or_else(|| TwilioError::not_found(&path))?;
            let env = Env {
                account_sid: &ctx.account_sid,
                base_url: &ctx.base_url,
                now,
            };
            Ok(ok(resources::recording(&env, recording)))
        }
        Route::DeleteRecording { account_sid, sid } => {
            let path = format!("/2010-04-01/Accounts/{account_sid}/Recordings/{sid}.json");
            own_account(ctx, &account_sid, &path)?;
            let mut state = lock(&shared.state);
            let index = state
                .recordings
                .iter()
                .position(|r| r.sid == sid)
                .ok_or_else(|| TwilioError::not_found(&path))?;
            state.recordings.remove(index);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Route::ListIncomingPhoneNumbers { account_sid } => {
            let path = format!("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json");
            own_account(ctx, &account_sid, &path)?;
            let page = PageRequest::parse(query, 50, 1000)?;
            let q = Params(query);
            let (number, friendly_name) = (q.get("PhoneNumber"), q.get("FriendlyName"));
            let state = lock(&shared.state);
            let items = state
                .numbers
                .iter()
                .filter(|n| number.is_none_or(|pattern| n.matches(pattern)))
                .filter(|n| friendly_name.is_none_or(|f| n.friendly_name == f))
                .map(|n| resources::incoming_phone_number(ctx, n))
                .collect();
            Ok(ok(page.respond_2010(
                items,
                "incoming_phone_numbers",
                &path,
            )))
        }
        Route::FetchIncomingPhoneNumber { account_sid, sid } => {
            let path =
                format!("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json");
            own_account(ctx, &account_sid, &path)?;
            let state = lock(&shared.state);
            let number = state
                .numbers
                .iter()
                .find(|n| n.sid == sid)
                .ok_or_else(|| TwilioError::not_found(&path))?;
            Ok(ok(resources::incoming_phone_number(ctx, number)))
        }
        Route::UpdateIncomingPhoneNumber { account_sid, sid } => {
            let path =
                format!("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json");
            own_account(ctx, &account_sid, &path)?;
            let update = NumberUpdate::from_form(form.0)?;
            let mut state = lock(&shared.state);
            let number = state
                .numbers
                .iter_mut()
                .find(|n| n.sid == sid)
                .ok_or_else(|| TwilioError::not_found(&path))?;
            number.apply(update, now);
            Ok(ok(resources::incoming_phone_number(ctx, number)))
        }
        Route::FetchConfiguration => Ok(ok(resources::configuration(
            ctx,
            &shared.default_messaging_service_sid,
        ))),
        Route::ListAddressConfigurations => {
            // Twilio's description allows pages of 50 at most here.
            let page = PageRequest::parse(query, 50, 50)?;
            let q = Params(query);
            let state = lock(&shared.state);
            let items = state
                .address_configurations
                .iter()
                .filter(|a| q.get("Type").is_none_or(|t| a.kind == t))
                .map(|a| addresses::resource(ctx, a))
                .collect();
            let path = "/v1/Configuration/Addresses";
            Ok(ok(page.respond(
                items,
                "address_configurations",
                &ctx.base_url,
                path,
            )))
        }
        Route::CreateAddressConfiguration => {
            let created_address = AddressConfiguration::from_form(form.0, now)?;
            let body = addresses::resource(ctx, &created_address);
            lock(&shared.state)
                .address_configurations
                .push(created_address);
            Ok(created(body))
        }
        Route::FetchConfigurationWebhooks => {
            let state = lock(&shared.state);
            Ok(ok(resources::configuration_webhook(
                ctx,
                &state.conversations_webhooks,
            )))
        }
        Route::UpdateConfigurationWebhooks => {
            let update = WebhookUpdate::from_form(form.0, true)?;
            let mut state = lock(&shared.state);
            state.conversations_webhooks.update_account(&update);
            Ok(ok(resources::configuration_webhook(
                ctx,
                &state.conversations_webhooks,
            )))
        }
        Route::FetchServiceWebhookConfiguration(service) => {
            known_service(ctx, &service)?;
            let state = lock(&shared.state);
            Ok(ok(resources::service_webhook_configuration(
                ctx,
                &state.conversations_webhooks.service,
            )))
        }
        Route::UpdateServiceWebhookConfiguration(service) => {
            known_service(ctx, &service)?;
            let update = WebhookUpdate::from_form(form.0, false)?;
            let mut state = lock(&shared.state);
            state.conversations_webhooks.update_service(&update);
            Ok(ok(resources::service_webhook_configuration(
                ctx,
                &state.conversations_webhooks.service,
            )))
        }
    }
}

/// The API 2010 paths name the account; only ours exists.
fn own_account(ctx: &resources::Ctx, account_sid: &str, path: &str) -> Result<(), TwilioError> {
    if account_sid == ctx.account_sid {
        Ok(())
    } else {
        Err(TwilioError::not_found(path))
    }
}

/// The emulator has one Conversations service; any other sid is unknown.
fn known_service(ctx: &resources::Ctx, service: &str) -> Result<(), TwilioError> {
    if service == ctx.chat_service_sid {
        Ok(())
    } else {
        Err(TwilioError::not_found(&format!("/Services/{service}")))
    }
}

/// Twilio tells webhooks about state changes asynchronously, after answering, and of a
/// REST change only when the request asked (`X-Twilio-Webhook-Enabled: true`): neither the
/// configured post-event webhook nor the events URL hears of it otherwise.
fn spawn_state_updated(shared: &Arc<Shared>, change: StateChange, webhooks_enabled: bool) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        shared.send_state_updated(&change, webhooks_enabled).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_both_hosts_paths() {
        let post = Method::POST;
        assert_eq!(
            Route::classify(&post, "/v1/Conversations"),
            Some(Route::CreateConversation)
        );
        assert_eq!(
            Route::classify(&Method::GET, "/v1/Conversations/order%2042"),
            Some(Route::FetchConversation("order 42".into()))
        );
        assert_eq!(
            Route::classify(&Method::DELETE, "/v1/Conversations/CH1"),
            Some(Route::DeleteConversation("CH1".into()))
        );
        assert_eq!(
            Route::classify(&post, "/v1/Conversations/CH1/Participants").map(|r| r.operation()),
            Some(Operation::CreateParticipant)
        );
        assert_eq!(
            Route::classify(&Method::GET, "/v1/ParticipantConversations"),
            Some(Route::ListParticipantConversations)
        );
        assert_eq!(
            Route::classify(&post, "/2010-04-01/Accounts/AC1/Calls.json"),
            Some(Route::CreateCall {
                account_sid: "AC1".into()
            })
        );
        assert_eq!(Route::classify(&Method::PUT, "/v1/Conversations/CH1"), None);
        assert_eq!(Route::classify(&Method::GET, "/v1/Services"), None);
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Bb"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
