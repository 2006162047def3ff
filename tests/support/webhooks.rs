//! The test's HTTPS webhook receiver and the independent check of what it received: signatures verified by
//! the PyPI package `standardwebhooks` (the Standard Webhooks reference library), not by the project's code.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use rsp::lab::Lab;
use serde_json::{Value, json};

/// One POST received by the test's webhook receiver.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// The HTTPS receiver: `/ok` answers 204; `/flaky` answers 500 while `failing` is set, then 200.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Got>>>,
    pub failing: Arc<AtomicBool>,
    pub refused: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn of(&self, path: &str) -> Vec<Got> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|g| g.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    let path = req.path().to_string();
    if path == "/flaky" && r.failing.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::InternalServerError().body("not now");
    }
    let headers = req
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("webhook-") || k.as_str() == "content-type")
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    r.got.lock().expect("lock").push(Got {
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if path == "/ok" {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::Ok().body("thanks")
    }
}

/// Starts the receiver on a localhost HTTPS port (see [`Lab::start_https_endpoint`]): its base URL and handle.
pub fn start_receiver(lab: &Lab, r: Receiver) -> (String, actix_web::dev::ServerHandle) {
    lab.start_https_endpoint(move |c: &mut web::ServiceConfig| {
        c.app_data(web::Data::new(r.clone()))
            .default_service(web::post().to(receive));
    })
    .expect("receiver listens")
}

/// Verifies `messages` with the Python `standardwebhooks` package: (payloads it accepted, refusals).
pub fn python_verify(secret: &str, messages: &[Got]) -> (Vec<Value>, usize) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("messages.json");
    let list: Vec<Value> = messages
        .iter()
        .map(|m| json!({ "headers": m.headers, "body": m.body }))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&list).expect("JSON")).expect("write");
    let out = testkit::run_python(
        &testkit::py_script("standard_webhooks_verify.py"),
        &[secret, &file.display().to_string()],
    );
    let v: Value = serde_json::from_str(&out).expect("checker output");
    (
        v["valid"].as_array().expect("valid").clone(),
        v["invalid"].as_array().expect("invalid").len(),
    )
}
