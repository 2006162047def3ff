//! ESM2M webhooks (issue 12 item 3): an owner registers HTTPS endpoints with the event types they receive; each
//! event of the owner becomes one delivery per matching endpoint, written to the outbox in the event's
//! transaction and sent by the outbox dispatcher ([`WebhookChannel`]) as a JSON POST signed as the Standard
//! Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
//! of "id.timestamp.body">` keyed with the secret's bytes), computed at each attempt so that a retry carries a
//! fresh timestamp. Attempts are logged; a delivery can be replayed (same `webhook-id`, a new delivery).
//!
//! | method and path | scope | what |
//! |---|---|---|
//! | `POST /esm2m/v1/webhooks` | admin | registers an endpoint; answers its secret, once |
//! | `GET /esm2m/v1/webhooks` | admin | the owner's endpoints (no secrets) |
//! | `DELETE /esm2m/v1/webhooks/{id}` | admin | removes one; its waiting deliveries are given up |
//! | `GET /esm2m/v1/webhooks/{id}/deliveries[?after=&limit=]` | admin | deliveries with every attempt |
//! | `POST /esm2m/v1/webhooks/{id}/deliveries/{delivery}/replay` | admin | sends a delivery's event again |
//! | `POST /esm2m/v1/webhooks/{id}/replay?event=N` | admin | sends event N of the feed to the endpoint again |

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certs::secrets::{MasterKeyring, Secret};
use eis_store::events::Event;
use eis_store::outbox::{NewOutboxMessage, OutboxMessage};
use eis_store::webhooks::{self, Delivery, Endpoint, NewDelivery};
use eis_store::{AnyConnection, StoreError, UnixMillis};
use es_runtime::client::SoapClient;
use es_runtime::outbox::{Attempt, OutboxChannel};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::events::{EVENT_TYPES, event_json};
use super::{Owner, Problem, Scope, bad_request, handle_with, internal, problem, rfc3339, store};
use crate::error::SmsrError;
use crate::service::Smsr;

/// What a secret starts with (Standard Webhooks: `whsec_` and the key's bytes in base64).
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes of a generated secret.
const SECRET_BYTES: usize = 32;

/// Purpose under which secrets are sealed with the master key (the owner's OID is the associated data).
pub const SEAL_PURPOSE: &str = "webhook-secret";

/// Most endpoints per owner.
pub const MAX_ENDPOINTS: usize = 16;

/// Longest endpoint URL.
const MAX_URL: usize = 2048;

/// The Standard Webhooks signature header value of one message: `v1,` and the base64 HMAC-SHA256, keyed with
/// `key`, of `"{id}.{timestamp}.{body}"`.
pub fn signature(
    key: &[u8],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, openssl::error::ErrorStack> {
    let pkey = openssl::pkey::PKey::hmac(key)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)?;
    signer.update(format!("{id}.{timestamp}.").as_bytes())?;
    signer.update(body)?;
    Ok(format!("v1,{}", STANDARD.encode(signer.sign_to_vec()?)))
}

/// The key bytes of a secret in its text form (`whsec_` + base64).
pub fn secret_key(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let b64 = text.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(b64).ok().map(Zeroizing::new)
}

/// The `webhook-id` of an event's deliveries: the same for every attempt and replay of it.
pub fn message_id(event: &Event) -> String {
    format!("evt_{}", event.id)
}

/// Writes one delivery of `event` per endpoint of its owner that wants its type, each an outbox message in
/// the caller's transaction (the one that appended the event).
pub fn fan_out(conn: &mut AnyConnection, smsr: &Smsr, event: &Event) -> Result<(), SmsrError> {
    fan_out_all(conn, smsr, std::slice::from_ref(event))
}

/// [`fan_out`] of several events, the endpoints of each owner read once.
pub fn fan_out_all(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    events: &[Event],
) -> Result<(), SmsrError> {
    let mut endpoints: Vec<(&str, Vec<Endpoint>)> = Vec::new();
    let mut new = Vec::new();
    for event in events {
        let i = match endpoints.iter().position(|(o, _)| *o == event.owner_oid) {
            Some(i) => i,
            None => {
                endpoints.push((
                    &event.owner_oid,
                    webhooks::endpoints_of(conn, &event.owner_oid)?,
                ));
                endpoints.len() - 1
            }
        };
        for e in endpoints[i].1.iter().filter(|e| e.wants(&event.event_type)) {
            new.push(new_delivery(smsr, e, event, None, event.occurred_at)?);
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    let now = events
        .iter()
        .map(|e| e.occurred_at)
        .max()
        .unwrap_or_default();
    webhooks::create_deliveries(conn, new, now)?;
    smsr.wake.outbox.notify_one();
    Ok(())
}

/// Queues one delivery of `event` to `endpoint` (a replay of `replay_of`) at `now`.
fn queue(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    endpoint: &Endpoint,
    event: &Event,
    replay_of: Option<i64>,
    now: UnixMillis,
) -> Result<Delivery, SmsrError> {
    let new = new_delivery(smsr, endpoint, event, replay_of, now)?;
    Ok(webhooks::create_delivery(conn, new, now)?)
}

/// The delivery of `event` to `endpoint` (a replay of `replay_of`), first attempt at `now`.
fn new_delivery(
    smsr: &Smsr,
    endpoint: &Endpoint,
    event: &Event,
    replay_of: Option<i64>,
    now: UnixMillis,
) -> Result<NewDelivery, SmsrError> {
    let body = serde_json::to_vec(&event_json(event)?).map_err(SmsrError::internal)?;
    let message = NewOutboxMessage {
        destination_url: endpoint.url.clone(),
        http_method: "POST".into(),
        headers: Vec::new(),
        body,
        content_type: "application/json".into(),
        correlation_id: None,
        message_id: Some(message_id(event)),
        not_before: now,
        // From the clock, not from `now`: a caller's `now` is taken before its transaction, which may wait
        // and retry (seen: 12 s late under load, so the first failed attempt already ended the window).
        give_up_at: now
            .max(smsr.clock.now_millis())
            .saturating_add(i64::try_from(smsr.webhook_give_up.as_millis()).unwrap_or(i64::MAX)),
    };
    Ok(NewDelivery {
        endpoint_id: endpoint.id,
        event_id: event.id,
        replay_of,
        message,
    })
}

/// The outbox channel of the webhook deliveries: signs each attempt with the endpoint's secret (unsealed for
/// the attempt), posts with a client that trusts the system's roots (and the configured extra CAs), and logs
/// the attempt.
pub struct WebhookChannel {
    keyring: Arc<MasterKeyring>,
    client: SoapClient,
    /// POSTs in flight, bounded per destination URL (hashed into a fixed set of semaphores).
    in_flight: Vec<Arc<Semaphore>>,
}

/// Semaphores the destination URLs are hashed into.
const IN_FLIGHT_STRIPES: usize = 64;

/// Most POSTs in flight to one destination URL (across every outbox dispatcher of the process).
pub const MAX_IN_FLIGHT_PER_URL: usize = 16;

impl WebhookChannel {
    /// A channel opening secrets with `keyring` and posting with `client` ([`SoapClient::public`]).
    pub fn new(keyring: Arc<MasterKeyring>, client: SoapClient) -> Self {
        WebhookChannel {
            keyring,
            client,
            in_flight: (0..IN_FLIGHT_STRIPES)
                .map(|_| Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_URL)))
                .collect(),
        }
    }
}

impl OutboxChannel for WebhookChannel {
    fn owns(&self, m: &OutboxMessage) -> bool {
        webhooks::delivery_of(m.correlation_id.as_deref()).is_some()
    }

    /// The round's deliveries and their endpoints in two reads; each endpoint's secret unsealed once.
    fn prepare(
        &self,
        conn: &mut AnyConnection,
        messages: &[&OutboxMessage],
        now: UnixMillis,
    ) -> Vec<Result<Vec<(String, String)>, String>> {
        let ids: Vec<Option<i64>> = messages
            .iter()
            .map(|m| webhooks::delivery_of(m.correlation_id.as_deref()))
            .collect();
        let known: Vec<i64> = ids.iter().flatten().copied().collect();
        let deliveries = match webhooks::deliveries(conn, &known) {
            Ok(d) => d,
            Err(e) => return messages.iter().map(|_| Err(e.to_string())).collect(),
        };
        let mut endpoint_ids: Vec<i64> = deliveries.iter().map(|d| d.endpoint_id).collect();
        endpoint_ids.sort_unstable();
        endpoint_ids.dedup();
        let endpoints = match webhooks::endpoints_by_ids(conn, &endpoint_ids) {
            Ok(e) => e,
            Err(e) => return messages.iter().map(|_| Err(e.to_string())).collect(),
        };
        let secrets: HashMap<i64, Result<Secret, String>> = endpoints
            .iter()
            .map(|e| {
                let secret = self
                    .keyring
                    .open(SEAL_PURPOSE, e.owner_oid.as_bytes(), &e.secret_sealed)
                    .map_err(|err| format!("webhook secret: {err}"));
                (e.id, secret)
            })
            .collect();
        let timestamp = now.div_euclid(1000);
        messages
            .iter()
            .zip(ids)
            .map(|(m, id)| {
                let id = id.ok_or("not a webhook delivery")?;
                let delivery = deliveries
                    .iter()
                    .find(|d| d.id == id)
                    .ok_or("the delivery was deleted")?;
                let secret = secrets
                    .get(&delivery.endpoint_id)
                    .ok_or("the webhook endpoint was deleted")?
                    .as_ref()
                    .map_err(String::clone)?;
                let webhook_id = m.message_id.clone().unwrap_or_else(|| format!("del_{id}"));
                let sig = signature(secret.expose(), &webhook_id, timestamp, &m.body)
                    .map_err(|e| format!("signature: {e}"))?;
                Ok(vec![
                    ("webhook-id".into(), webhook_id),
                    ("webhook-timestamp".into(), timestamp.to_string()),
                    ("webhook-signature".into(), sig),
                ])
            })
            .collect()
    }

    fn client(&self) -> &SoapClient {
        &self.client
    }

    fn in_flight(&self, m: &OutboxMessage) -> Option<Arc<Semaphore>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        m.destination_url.hash(&mut h);
        let i = usize::try_from(h.finish() % IN_FLIGHT_STRIPES as u64).unwrap_or(0);
        self.in_flight.get(i).cloned()
    }

    fn record(
        &self,
        conn: &mut AnyConnection,
        attempts: &[Attempt<'_>],
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let rows: Vec<webhooks::NewAttempt<'_>> = attempts
            .iter()
            .filter_map(|a| {
                Some(webhooks::NewAttempt {
                    delivery_id: webhooks::delivery_of(a.message.correlation_id.as_deref())?,
                    http_status: a.status,
                    error: a.error,
                    state: a.state,
                })
            })
            .collect();
        webhooks::record_attempts(conn, &rows, now)
    }
}

/// Body of `POST /webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"url": "https://hooks.example/rsp", "eventTypes": ["operation.finished", "profile.enabled"]}))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWebhook {
    /// HTTPS URL the events are POSTed to (no credentials in it; at most 2048 characters).
    #[schema(
        pattern = "^https://",
        max_length = 2048,
        example = "https://hooks.example/rsp"
    )]
    pub url: String,
    /// Event types it receives (absent or empty: all).
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// A webhook endpoint as the owner sees it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": 3, "url": "https://hooks.example/rsp", "eventTypes": ["operation.finished"],
    "createdAt": "2026-12-06T01:00:00Z", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// Id.
    pub id: i64,
    /// URL.
    pub url: String,
    /// Event types it receives (empty: all).
    pub event_types: Vec<String>,
    /// Created (RFC 3339).
    pub created_at: Option<String>,
    /// The signing secret (`whsec_…`): only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The owner's endpoints.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub items: Vec<WebhookView>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// When (RFC 3339).
    pub at: Option<String>,
    /// HTTP status of the answer, if one came.
    pub status: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": 17, "eventId": 12, "eventType": "operation.finished", "state": "Delivered",
    "replayOf": null, "createdAt": "2026-12-06T01:00:04Z",
    "attempts": [{"at": "2026-12-06T01:00:04Z", "status": 204, "error": null}]}))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Id.
    pub id: i64,
    /// The event's id in the feed.
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// `Pending`, `InFlight`, `Delivered` or `Dead` (given up).
    pub state: String,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// Created (RFC 3339).
    pub created_at: Option<String>,
    /// Attempts, oldest first.
    pub attempts: Vec<AttemptView>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// Oldest first.
    pub items: Vec<DeliveryView>,
    /// The `after` of the next page; absent on the last one.
    pub next: Option<i64>,
}

fn view(e: &Endpoint, secret: Option<String>) -> WebhookView {
    WebhookView {
        id: e.id,
        url: e.url.clone(),
        event_types: e
            .event_types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: rfc3339(e.created_at),
        secret,
    }
}

/// Refuses anything but an absolute `https` URL with a host and no credentials.
fn check_url(url: &str) -> Result<(), Problem> {
    if url.len() > MAX_URL {
        return Err(bad_request(format!(
            "url: longer than {MAX_URL} characters"
        )));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad_request(format!("url: {e}")))?;
    if parsed.scheme() != "https" {
        return Err(bad_request(
            "url: webhooks are delivered over HTTPS only (an https:// URL)".into(),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad_request("url: no host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad_request("url: must not carry credentials".into()));
    }
    Ok(())
}

/// A registration that passed the checks: its URL and event types (no repeats).
#[derive(Debug)]
pub struct CheckedWebhook {
    url: String,
    types: Vec<String>,
}

/// Checks the body of `POST /esm2m/v1/webhooks` before anything is read or written.
pub fn check_webhook(body: &[u8]) -> Result<CheckedWebhook, super::idempotency::ApiProblem> {
    let req: NewWebhook = super::idempotency::json_body(body)?;
    check_url(&req.url)?;
    let mut types: Vec<String> = Vec::new();
    for t in &req.event_types {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(bad_request(format!(
                "eventTypes: unknown type {t:?} (known: {})",
                EVENT_TYPES.join(", ")
            ))
            .into());
        }
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    Ok(CheckedWebhook {
        url: req.url,
        types,
    })
}

/// `POST /esm2m/v1/webhooks`: registers an endpoint in the request's transaction; the answer carries its secret,
/// the only time it is shown (a repeat with the same `Idempotency-Key` gets 409: the secret is not kept).
fn register(
    c: &mut AnyConnection,
    smsr: &Smsr,
    owner: &Owner,
    w: &CheckedWebhook,
    now: i64,
) -> Result<super::idempotency::Answer, super::idempotency::TxFail> {
    if webhooks::endpoints_of(c, &owner.oid)?.len() >= MAX_ENDPOINTS {
        return Err(problem(
            StatusCode::CONFLICT,
            "too-many-webhooks",
            "Too many webhook endpoints",
            format!("an owner has at most {MAX_ENDPOINTS} webhook endpoints"),
        )
        .into());
    }
    let mut key = Zeroizing::new([0u8; SECRET_BYTES]);
    openssl::rand::rand_bytes(key.as_mut_slice()).map_err(internal)?;
    let sealed = smsr
        .keyring
        .seal(SEAL_PURPOSE, owner.oid.as_bytes(), key.as_slice())
        .map_err(internal)?;
    let endpoint =
        webhooks::create_endpoint(c, &owner.oid, &w.url, &sealed, &w.types.join(","), now)?;
    let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode(key.as_slice()));
    let mut answer = super::idempotency::Answer::json(
        StatusCode::CREATED,
        &view(&endpoint, Some(secret)),
        None,
    )?;
    answer.once = true;
    Ok(answer)
}

/// `GET /esm2m/v1/webhooks`.
pub fn list(smsr: &Smsr, owner: &Owner) -> Result<WebhookList, Problem> {
    let mut conn = smsr.store.conn().map_err(store)?;
    let items = webhooks::endpoints_of(&mut conn, &owner.oid)
        .map_err(store)?
        .iter()
        .map(|e| view(e, None))
        .collect();
    Ok(WebhookList { items })
}

fn not_found(what: String) -> Problem {
    problem(StatusCode::NOT_FOUND, "not-found", "No such resource", what)
}

/// The owner's endpoint `id`, or the same 404 whether it does not exist or is another owner's.
fn own_endpoint(conn: &mut AnyConnection, owner: &Owner, id: i64) -> Result<Endpoint, Problem> {
    webhooks::endpoint(conn, &owner.oid, id)
        .map_err(store)?
        .ok_or_else(|| not_found(format!("no webhook {id} among yours")))
}

/// `DELETE /esm2m/v1/webhooks/{id}`.
pub fn delete(smsr: &Smsr, owner: &Owner, id: i64) -> Result<(), Problem> {
    let now = smsr.clock.now_millis();
    let existed = smsr
        .store
        .tx(|c| webhooks::delete_endpoint(c, &owner.oid, id, now))
        .map_err(store)?;
    if existed {
        Ok(())
    } else {
        Err(not_found(format!("no webhook {id} among yours")))
    }
}

/// Query of `GET …/deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// The `next` of the previous page: deliveries after this id.
    after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// `GET /esm2m/v1/webhooks/{id}/deliveries`: deliveries oldest first, each with its attempts.
pub fn deliveries(
    smsr: &Smsr,
    owner: &Owner,
    id: i64,
    query_string: &str,
) -> Result<DeliveryPage, Problem> {
    let q: DeliveryQuery = web::Query::<DeliveryQuery>::from_query(query_string)
        .map_err(|e| bad_request(format!("query: {e}")))?
        .into_inner();
    let limit = q.limit.unwrap_or(super::DEFAULT_PAGE);
    if !(1..=super::MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!(
            "limit must be between 1 and {}",
            super::MAX_PAGE
        )));
    }
    let mut conn = smsr.store.conn().map_err(store)?;
    own_endpoint(&mut conn, owner, id)?;
    let mut rows =
        webhooks::deliveries_of(&mut conn, id, q.after.unwrap_or(0), limit + 1).map_err(store)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let attempts = webhooks::attempts_of(&mut conn, &ids).map_err(store)?;
    let outbox_ids: Vec<i64> = rows.iter().map(|d| d.outbox_id).collect();
    let states = webhooks::outbox_states(&mut conn, &outbox_ids).map_err(store)?;
    let mut items = Vec::with_capacity(rows.len());
    for d in &rows {
        let event = eis_store::events::get(&mut conn, d.event_id)
            .map_err(store)?
            .ok_or_else(|| internal(format!("delivery {} without its event", d.id)))?;
        let state = states
            .iter()
            .find(|(o, _)| *o == d.outbox_id)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| d.state.clone());
        items.push(DeliveryView {
            id: d.id,
            event_id: event.seq,
            event_type: event.event_type,
            state,
            replay_of: d.replay_of,
            created_at: rfc3339(d.created_at),
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| AttemptView {
                    at: rfc3339(a.attempted_at),
                    status: a.http_status,
                    error: a.error.clone(),
                })
                .collect(),
        });
    }
    let next = if more { ids.last().copied() } else { None };
    Ok(DeliveryPage { items, next })
}

/// A delivery just queued (no attempt yet).
fn queued_view(event: Event, d: Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: event.seq,
        event_type: event.event_type,
        state: d.state,
        replay_of: d.replay_of,
        created_at: rfc3339(d.created_at),
        attempts: Vec::new(),
    }
}

/// `POST /esm2m/v1/webhooks/{id}/deliveries/{delivery}/replay`: the delivery's event is sent again to the
/// endpoint as a new delivery (same `webhook-id`), whatever became of the first.
fn replay_delivery(
    c: &mut AnyConnection,
    smsr: &Smsr,
    owner: &Owner,
    id: i64,
    delivery_id: i64,
    now: i64,
) -> Result<super::idempotency::Answer, super::idempotency::TxFail> {
    let gone = || not_found(format!("no delivery {delivery_id} of webhook {id}"));
    let endpoint = webhooks::endpoint(c, &owner.oid, id)?.ok_or_else(gone)?;
    let d = webhooks::delivery(c, delivery_id)?
        .filter(|d| d.endpoint_id == id)
        .ok_or_else(gone)?;
    let event = eis_store::events::get(c, d.event_id)?.ok_or_else(gone)?;
    let new = queue(c, smsr, &endpoint, &event, Some(d.id), now)?;
    super::idempotency::Answer::json(StatusCode::ACCEPTED, &queued_view(event, new), None)
}

/// Query of `POST /webhooks/{id}/replay`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReplayQuery {
    /// The event's number in the owner's feed.
    #[param(example = 12)]
    event: i64,
}

/// `POST /esm2m/v1/webhooks/{id}/replay?event=N`: event N of the owner's feed is sent to the endpoint (again,
/// or for the first time when the endpoint did not exist or did not want it then).
fn replay_event(
    c: &mut AnyConnection,
    smsr: &Smsr,
    owner: &Owner,
    id: i64,
    event_seq: i64,
    now: i64,
) -> Result<super::idempotency::Answer, super::idempotency::TxFail> {
    let gone = || not_found(format!("no event {event_seq} for webhook {id}"));
    let endpoint = webhooks::endpoint(c, &owner.oid, id)?.ok_or_else(gone)?;
    let event = eis_store::events::by_seq(c, &owner.oid, event_seq)?.ok_or_else(gone)?;
    let previous = webhooks::deliveries_of_event(c, id, event.id)?
        .first()
        .map(|d| d.id);
    let new = queue(c, smsr, &endpoint, &event, previous, now)?;
    super::idempotency::Answer::json(StatusCode::ACCEPTED, &queued_view(event, new), None)
}

/// A replay's body: none (or `{}`).
fn no_body(b: &[u8]) -> Result<(), super::idempotency::ApiProblem> {
    if b.iter().all(u8::is_ascii_whitespace) || b.trim_ascii() == b"{}" {
        Ok(())
    } else {
        Err(bad_request("a replay takes no body (or {})".into()).into())
    }
}

/// `POST /esm2m/v1/webhooks` (scope `admin`).
#[utoipa::path(post, path = "/esm2m/v1/webhooks", tag = "Webhooks",
    request_body(content = NewWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; the answer carries the signing secret, the only time it is shown", body = WebhookView),
        (status = 400, description = "Invalid body: not an https URL, an unknown event type", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The owner has the most endpoints allowed (16)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `admin`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn post_webhook(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    body: web::Bytes,
) -> HttpResponse {
    super::idempotency::post_scoped(&req, body, &smsr, Scope::Admin, check_webhook, register).await
}

/// `GET /esm2m/v1/webhooks` (scope `admin`).
#[utoipa::path(get, path = "/esm2m/v1/webhooks", tag = "Webhooks",
    responses(
        (status = 200, description = "The owner's endpoints, oldest first, without their secrets", body = WebhookList),
        (status = 403, description = "The token lacks scope `admin`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn get_webhooks(req: HttpRequest, smsr: web::Data<Arc<Smsr>>) -> HttpResponse {
    handle_with(&req, &smsr, Scope::Admin, StatusCode::OK, list).await
}

/// `DELETE /esm2m/v1/webhooks/{id}` (scope `admin`).
#[utoipa::path(delete, path = "/esm2m/v1/webhooks/{id}", tag = "Webhooks", params(("id" = i64, Path, description = "Webhook endpoint id", example = 3)),
    responses(
        (status = 204, description = "Removed; its waiting deliveries are given up"),
        (status = 404, description = "No such webhook among the owner's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `admin`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn delete_webhook(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<i64>,
) -> HttpResponse {
    let id = id.into_inner();
    handle_with(
        &req,
        &smsr,
        Scope::Admin,
        StatusCode::NO_CONTENT,
        move |s, o| delete(s, o, id),
    )
    .await
}

/// `GET /esm2m/v1/webhooks/{id}/deliveries` (scope `admin`).
#[utoipa::path(get, path = "/esm2m/v1/webhooks/{id}/deliveries", tag = "Webhooks", params(("id" = i64, Path, description = "Webhook endpoint id", example = 3), DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries oldest first, each with its attempts", body = DeliveryPage),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among the owner's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `admin`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn get_deliveries(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<i64>,
) -> HttpResponse {
    let id = id.into_inner();
    let query = req.query_string().to_string();
    handle_with(&req, &smsr, Scope::Admin, StatusCode::OK, move |s, o| {
        deliveries(s, o, id, &query)
    })
    .await
}

/// `POST /esm2m/v1/webhooks/{id}/deliveries/{delivery}/replay` (scope `admin`).
#[utoipa::path(post, path = "/esm2m/v1/webhooks/{id}/deliveries/{delivery}/replay", tag = "Webhooks",
    params(("id" = i64, Path, description = "Webhook endpoint id", example = 3), ("delivery" = i64, Path, description = "Delivery id", example = 17)),
    responses(
        (status = 202, description = "A new delivery of the same event (same `webhook-id`), queued", body = DeliveryView),
        (status = 404, description = "No such delivery of the owner's webhook", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `admin`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn post_replay_delivery(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(i64, i64)>,
    body: web::Bytes,
) -> HttpResponse {
    let (id, delivery) = path.into_inner();
    super::idempotency::post_scoped(
        &req,
        body,
        &smsr,
        Scope::Admin,
        no_body,
        move |c, s, o, _: &(), now| replay_delivery(c, s, o, id, delivery, now),
    )
    .await
}

/// `POST /esm2m/v1/webhooks/{id}/replay?event=N` (scope `admin`).
#[utoipa::path(post, path = "/esm2m/v1/webhooks/{id}/replay", tag = "Webhooks", params(("id" = i64, Path, description = "Webhook endpoint id", example = 3), ReplayQuery),
    responses(
        (status = 202, description = "A delivery of the event to the endpoint, queued", body = DeliveryView),
        (status = 400, description = "Invalid query (`event` missing or not a number)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among the owner's, or no such event in the owner's feed", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `admin`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn post_replay_event(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> HttpResponse {
    let id = id.into_inner();
    let query = req.query_string().to_string();
    super::idempotency::post_scoped(
        &req,
        body,
        &smsr,
        Scope::Admin,
        move |b: &[u8]| {
            no_body(b)?;
            let q: ReplayQuery = web::Query::<ReplayQuery>::from_query(&query)
                .map_err(|e| bad_request(format!("query: {e}")))?
                .into_inner();
            Ok(q.event)
        },
        move |c, s, o, event: &i64, now| replay_event(c, s, o, id, *event, now),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' test suites (secret, id, timestamp and
    /// payload from there; the expected signature also recomputed with Python's hmac module).
    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let other = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265331,
            br#"{"test": 2432232314}"#,
        )
        .expect("sign");
        assert_ne!(other, sig);
    }

    #[test]
    fn secrets_and_urls() {
        assert!(secret_key("whsec_!!").is_none());
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(check_url("https://hooks.example/rsp?x=1").is_ok());
        for bad in [
            "http://hooks.example/",
            "ftp://hooks.example/",
            "https://user:pw@hooks.example/",
            "hooks.example",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
