//! Simple mobile networks for the test SMSC: routing by MSISDN to registered handsets, or accepting everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{BoxFuture, MobileNetwork, MtOutcome, MtSms};

/// GSM MAP error 1, "unknown subscriber": the `err:` of a receipt for an MSISDN nobody registered.
pub const ERR_UNKNOWN_SUBSCRIBER: u16 = 1;

#[derive(Clone)]
enum Route {
    Channel(mpsc::Sender<MtSms>),
    Handler(Arc<dyn MobileNetwork>),
}

/// A mobile network that routes each MT SMS by destination MSISDN to what registered that MSISDN: a channel
/// ([`HandsetRouter::register`]) or a handler ([`HandsetRouter::register_handler`]). Unknown MSISDNs are
/// undeliverable with `err` 1 (unknown subscriber).
#[derive(Default)]
pub struct HandsetRouter {
    routes: Mutex<HashMap<String, Route>>,
}

impl HandsetRouter {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `msisdn` and returns the channel its MT SMS arrive on (bounded: a slow reader delays delivery).
    pub fn register(&self, msisdn: &str) -> mpsc::Receiver<MtSms> {
        let (tx, rx) = mpsc::channel(1024);
        self.insert(msisdn, Route::Channel(tx));
        rx
    }

    /// Registers a handler (e.g. one simulated eUICC) for `msisdn`.
    pub fn register_handler(&self, msisdn: &str, handler: Arc<dyn MobileNetwork>) {
        self.insert(msisdn, Route::Handler(handler));
    }

    /// Removes `msisdn`; its SMS become undeliverable.
    pub fn unregister(&self, msisdn: &str) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.remove(msisdn);
        }
    }

    fn insert(&self, msisdn: &str, route: Route) {
        match self.routes.lock() {
            Ok(mut routes) => routes.insert(msisdn.to_string(), route),
            Err(poisoned) => poisoned.into_inner().insert(msisdn.to_string(), route),
        };
    }

    fn route(&self, msisdn: &str) -> Option<Route> {
        match self.routes.lock() {
            Ok(routes) => routes.get(msisdn).cloned(),
            Err(poisoned) => poisoned.into_inner().get(msisdn).cloned(),
        }
    }
}

impl MobileNetwork for HandsetRouter {
    fn deliver_mt(&self, mt: MtSms) -> BoxFuture<'_, MtOutcome> {
        Box::pin(async move {
            match self.route(&mt.msisdn) {
                Some(Route::Channel(tx)) => match tx.send(mt).await {
                    Ok(()) => MtOutcome::Delivered,
                    Err(_) => MtOutcome::Undeliverable {
                        err: ERR_UNKNOWN_SUBSCRIBER,
                    },
                },
                Some(Route::Handler(handler)) => handler.deliver_mt(mt).await,
                None => MtOutcome::Undeliverable {
                    err: ERR_UNKNOWN_SUBSCRIBER,
                },
            }
        })
    }
}

/// A mobile network where every handset acknowledges every SMS at once (for benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeliverAll;

impl MobileNetwork for DeliverAll {
    fn deliver_mt(&self, _mt: MtSms) -> BoxFuture<'_, MtOutcome> {
        Box::pin(async { MtOutcome::Delivered })
    }
}
