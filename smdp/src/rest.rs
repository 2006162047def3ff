//! The SM-DP's REST API for MNOs (DESIGN §1: every function also offered as REST/JSON): the profile warehouse under
//! `/api/v1/`, on the same mutual-TLS listener as ES2. The MNO is the registered entity owning the TLS client
//! certificate (SGP.02 §2.6; role MNO) and sees and changes only its own profile types, orders and stock.
//! Errors are RFC 9457 `application/problem+json`.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /api/v1/profile-types` | the MNO's profile types |
//! | `POST /api/v1/profile-types` | add one: JSON `{name, template (base64 DER), requiredMemory, targetPlatform?, lowStockThreshold?}` |
//! | `POST /api/v1/profile-types/{name}/orders[?filename=…]` | upload an order file (streamed; `text/csv` is CSV, otherwise the layout is sniffed) |
//! | `GET /api/v1/orders/{id}` | an order |
//! | `GET /api/v1/stock` | stock levels per profile type |
//! | `GET /api/v1/profile-types/{name}/installed[?order=…]` | the output file (CSV), no secrets |
//! | `POST /api/v1/profile-types/{name}/installed[?order=…]` | the output file with secrets, encrypted for the certificate (PEM) in the body, which must be the caller's own |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document of this API and of the ES2 twin ([`crate::rest_es2`]) |

use std::collections::HashMap;
use std::io::Seek;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certs::x509::X509Certificate;
use eis_store::entities::EntityRole;
use eis_store::now_millis;
use es_runtime::caller::{Caller, CallerError, Interface};
use es_runtime::rest_twin::MutualTlsSecurity;
use es_runtime::tls::PeerCertificate;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{OpenApi, ToSchema};

use crate::batch::{BatchFormat, Problem as RowProblem};
use crate::service::Smdp;
use crate::warehouse::export::{self, ExportRequest};
use crate::warehouse::import::{self, FileSource, ImportOptions};
use crate::warehouse::profile_types::{self, ProfileTypeSpec};
use crate::warehouse::{WarehouseError, stock};

/// The REST interface as the caller directory sees it: MNOs only.
pub const REST: Interface = Interface {
    name: "REST",
    role: EntityRole::Mno,
};

/// Largest JSON request body (a profile type with its base64 template).
const MAX_JSON_BYTES: usize = 2 << 20;

/// Limits of the REST API.
#[derive(Clone, Debug)]
pub struct RestConfig {
    /// Largest order file accepted, in bytes (413 beyond).
    pub max_upload_bytes: u64,
    /// Uploads one MNO may have spooling or importing at once (429 beyond).
    pub max_uploads_per_mno: usize,
    /// Bytes all uploads together may hold in the spool directory at once (507 beyond), so that uploads
    /// cannot fill the disk.
    pub max_spool_bytes: u64,
    /// Where uploads are spooled while they are imported (default: the system's temporary directory).
    pub spool_dir: Option<PathBuf>,
    /// Limits of the order-file readers and where the report of a long refusal goes.
    pub import: ImportOptions,
}

impl Default for RestConfig {
    /// 1 GiB uploads (a 1,000,000-row file is about 200 MB), 2 at once per MNO, 4 GiB spooled in all, in the
    /// temporary directory.
    fn default() -> Self {
        RestConfig {
            max_upload_bytes: 1 << 30,
            max_uploads_per_mno: 2,
            max_spool_bytes: 4 << 30,
            spool_dir: None,
            import: ImportOptions::default(),
        }
    }
}

struct State {
    smdp: Arc<Smdp>,
    config: RestConfig,
    uploads: Arc<Uploads>,
}

/// The uploads under way: how many per MNO, how many bytes spooled in all.
#[derive(Debug, Default)]
struct Uploads {
    per_mno: Mutex<HashMap<String, usize>>,
    spooled: AtomicU64,
}

/// One upload's share of [`Uploads`], given back when it is dropped (the import done, the spool file gone).
#[derive(Debug)]
struct UploadSlot {
    uploads: Arc<Uploads>,
    mno: String,
    bytes: u64,
}

impl Uploads {
    /// Admits one more upload of `mno`, unless it already has `max` under way (429).
    fn begin(self: &Arc<Self>, mno: &str, max: usize) -> Result<UploadSlot, ProblemDetail> {
        let mut per_mno = self
            .per_mno
            .lock()
            .map_err(|_| internal("upload table poisoned"))?;
        let n = per_mno.entry(mno.to_string()).or_insert(0);
        if *n >= max {
            return Err(problem(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-uploads",
                "Too many order uploads at once",
                format!(
                    "at most {max} order upload(s) of one MNO at once; retry when one has finished"
                ),
            ));
        }
        *n += 1;
        Ok(UploadSlot {
            uploads: self.clone(),
            mno: mno.to_string(),
            bytes: 0,
        })
    }
}

impl UploadSlot {
    /// Counts `n` more spooled bytes, refusing to go past `max_total` over all uploads (507).
    fn spool(&mut self, n: u64, max_total: u64) -> Result<(), ProblemDetail> {
        let before = self.uploads.spooled.fetch_add(n, Ordering::SeqCst);
        self.bytes += n;
        if before.saturating_add(n) > max_total {
            return Err(problem(
                StatusCode::INSUFFICIENT_STORAGE,
                "spool-full",
                "No room for the order file",
                format!(
                    "the uploads under way already hold close to {max_total} bytes; retry later"
                ),
            ));
        }
        Ok(())
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.uploads.spooled.fetch_sub(self.bytes, Ordering::SeqCst);
        if let Ok(mut per_mno) = self.uploads.per_mno.lock()
            && let Some(n) = per_mno.get_mut(&self.mno)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_mno.remove(&self.mno);
            }
        }
    }
}

/// An RFC 9457 problem detail, with the bad rows of a refused order file (the members of [`Refusal`], for
/// problem type `urn:rsp:problem:order-file-refused`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetail {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the type.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// The bad rows of a refused order file.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub refusal: Option<Box<Refusal>>,
}

/// The extension members of an `order-file-refused` problem.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// The first 100 problems (line, column, reason).
    pub errors: Vec<RowError>,
    /// How many problems the file has in all.
    pub total_problems: u64,
    /// How many lines have a problem.
    pub bad_lines: u64,
    /// When there are more than 100 problems: the report file on the SM-DP listing every one (its operator
    /// can hand it over).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// One bad row of a refused order file.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowError {
    /// Line in the file, from 1 (0: the file as a whole).
    pub line: u64,
    /// The column, when one field is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What is wrong (never the value).
    pub reason: String,
}

impl From<&RowProblem> for RowError {
    fn from(p: &RowProblem) -> Self {
        RowError {
            line: p.line,
            column: p.column.clone(),
            reason: p.reason.clone(),
        }
    }
}

fn problem(status: StatusCode, slug: &str, title: &'static str, detail: String) -> ProblemDetail {
    ProblemDetail {
        kind: format!("urn:rsp:problem:{slug}"),
        title,
        status: status.as_u16(),
        detail,
        refusal: None,
    }
}

impl ProblemDetail {
    fn response(&self) -> HttpResponse {
        HttpResponse::build(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .content_type("application/problem+json")
        .json(self)
    }
}

/// The problem for a warehouse error; internal failures are logged and reported without detail.
pub fn warehouse_problem(e: &WarehouseError) -> ProblemDetail {
    use WarehouseError as W;
    match e {
        W::Template(_) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-template",
            "The profile template is not a valid SAIP package",
            e.to_string(),
        ),
        W::Refused(errors) => ProblemDetail {
            refusal: Some(Box::new(Refusal {
                errors: errors.problems.iter().map(RowError::from).collect(),
                total_problems: errors.total_problems,
                bad_lines: errors.bad_lines,
                report: errors.report.as_ref().map(|p| p.display().to_string()),
            })),
            ..problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "order-file-refused",
                "The order file is refused; nothing was imported",
                format!(
                    "{} problem(s) on {} line(s)",
                    errors.total_problems, errors.bad_lines
                ),
            )
        },
        W::UnknownProfileType { .. } | W::UnknownOrder { .. } | W::UnknownIccid { .. } => problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such resource of this MNO",
            e.to_string(),
        ),
        W::ProfileTypeExists { .. } => problem(
            StatusCode::CONFLICT,
            "profile-type-exists",
            "The profile type exists already",
            e.to_string(),
        ),
        W::OutOfStock { .. } | W::WrongState { .. } => problem(
            StatusCode::CONFLICT,
            "stock-state",
            "The stock does not allow this",
            e.to_string(),
        ),
        W::Invalid { .. } => problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request is invalid",
            e.to_string(),
        ),
        W::Secrets { .. }
        | W::SecretsLayout { .. }
        | W::Personalise { .. }
        | W::Export(_)
        | W::Io { .. }
        | W::Store(_) => {
            tracing::error!(error = %e, "warehouse request failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The SM-DP could not complete the request",
                "internal error; see the SM-DP's log".into(),
            )
        }
    }
}

fn caller_problem(e: &CallerError) -> ProblemDetail {
    match e {
        CallerError::Unknown(_) | CallerError::NotAllowed { .. } => problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The client certificate does not identify an MNO of this SM-DP",
            e.to_string(),
        ),
        CallerError::Store(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The entity registry could not be read",
            "try again later".into(),
        ),
    }
}

fn bad_request(detail: impl Into<String>) -> ProblemDetail {
    problem(
        StatusCode::BAD_REQUEST,
        "invalid-request",
        "The request is invalid",
        detail.into(),
    )
}

fn internal(detail: impl std::fmt::Display) -> ProblemDetail {
    tracing::error!(error = %detail, "REST request failed");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "The SM-DP could not complete the request",
        "internal error; see the SM-DP's log".into(),
    )
}

/// What a handler's blocking part produces (an `HttpResponse` is not `Send`, so it is built afterwards).
enum Reply {
    /// A JSON body with this status.
    Json(StatusCode, Vec<u8>),
    /// A CSV file to stream from its start.
    Csv(std::fs::File),
}

type Answer = Result<Reply, ProblemDetail>;

fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    serde_json::to_vec(value)
        .map(|body| Reply::Json(status, body))
        .map_err(internal)
}

impl Reply {
    fn response(self) -> HttpResponse {
        match self {
            Reply::Json(status, body) => HttpResponse::build(status)
                .content_type("application/json")
                .body(body),
            Reply::Csv(file) => HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .streaming(tokio_util::io::ReaderStream::new(
                    tokio::fs::File::from_std(file),
                )),
        }
    }
}

/// Resolves the caller, then runs `f` on the blocking pool and turns its outcome into a response.
async fn as_mno<F>(req: &HttpRequest, state: &web::Data<State>, f: F) -> HttpResponse
where
    F: FnOnce(&Smdp, &Caller, Option<PeerCertificate>) -> Answer + Send + 'static,
{
    let cert = req.conn_data::<PeerCertificate>().cloned();
    let smdp = state.smdp.clone();
    let outcome = web::block(move || {
        let caller = smdp
            .callers
            .resolve(&smdp.store, cert.as_ref(), REST)
            .map_err(|e| caller_problem(&e))?;
        f(&smdp, &caller, cert)
    })
    .await;
    match outcome {
        Ok(Ok(r)) => r.response(),
        Ok(Err(p)) => p.response(),
        Err(e) => internal(e).response(),
    }
}

fn conn(smdp: &Smdp) -> Result<eis_store::PooledConn, ProblemDetail> {
    smdp.store.conn().map_err(|e| warehouse_problem(&e.into()))
}

#[utoipa::path(get, path = "/api/v1/profile-types", tag = "Warehouse",
    responses((status = 200, description = "The MNO's profile types", body = Vec<crate::warehouse::profile_types::ProfileTypeInfo>),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn list_profile_types(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    as_mno(&req, &state, |smdp, caller, _| {
        let list = profile_types::list(&mut *conn(smdp)?, &caller.oid)
            .map_err(|e| warehouse_problem(&e))?;
        json(StatusCode::OK, &list)
    })
    .await
}

/// The body of `POST /api/v1/profile-types`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "usim", "template": "MIIB…(base64 DER)", "requiredMemory": 32768, "targetPlatform": "generic", "lowStockThreshold": 100, "pol2": "DISABLE:Not-Allowed"}))]
pub struct NewProfileTypeBody {
    /// Name.
    pub name: String,
    /// The SAIP template, DER in base64.
    pub template: String,
    /// Memory the profile needs, bytes.
    pub required_memory: i64,
    /// Target platform.
    #[serde(default)]
    pub target_platform: Option<String>,
    /// Low-stock threshold.
    #[serde(default)]
    pub low_stock_threshold: Option<i64>,
    /// POL2 of the downloaded profiles in its text form (SGP.02 §2.4.5, e.g. `DISABLE:Not-Allowed`).
    #[serde(default)]
    pub pol2: Option<String>,
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ProblemDetail> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The request body is too large",
                format!("at most {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[utoipa::path(post, path = "/api/v1/profile-types", tag = "Warehouse",
    request_body(content = NewProfileTypeBody, content_type = "application/json"),
    responses((status = 201, description = "Added", body = crate::warehouse::profile_types::ProfileTypeInfo),
        (status = 400, description = "Invalid request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 409, description = "The profile type exists already", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 422, description = "Invalid template", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn add_profile_type(
    req: HttpRequest,
    state: web::Data<State>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_body(payload, MAX_JSON_BYTES).await {
        Ok(b) => b,
        Err(p) => return p.response(),
    };
    as_mno(&req, &state, move |smdp, caller, _| {
        let b: NewProfileTypeBody =
            serde_json::from_slice(&body).map_err(|e| bad_request(format!("JSON body: {e}")))?;
        let template = STANDARD
            .decode(b.template.trim())
            .map_err(|_| bad_request("template: not base64"))?;
        let pol2 = b
            .pol2
            .as_deref()
            .map(profile_types::parse_pol2)
            .transpose()
            .map_err(|e| warehouse_problem(&e))?;
        let info = profile_types::add(
            &mut *conn(smdp)?,
            &ProfileTypeSpec {
                mno_oid: caller.oid.clone(),
                name: b.name,
                template,
                required_memory: b.required_memory,
                target_platform: b.target_platform.unwrap_or_else(|| "generic".into()),
                low_stock_threshold: b.low_stock_threshold.unwrap_or(0),
                pol2,
            },
            now_millis(),
        )
        .map_err(|e| warehouse_problem(&e))?;
        json(StatusCode::CREATED, &info)
    })
    .await
}

/// Query of the order upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// Name recorded for the order (default: `upload-<time>`).
    filename: Option<String>,
}

fn too_large(max: u64) -> ProblemDetail {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "The order file is too large",
        format!("at most {max} bytes"),
    )
}

/// Streams the body to a spool file (never holding it in memory), refusing more than the limits.
async fn spool(
    mut payload: web::Payload,
    config: &RestConfig,
    slot: &mut UploadSlot,
) -> Result<(tempfile::NamedTempFile, Vec<u8>), ProblemDetail> {
    let file = match &config.spool_dir {
        Some(dir) => tempfile::NamedTempFile::new_in(dir),
        None => tempfile::NamedTempFile::new(),
    }
    .map_err(internal)?;
    let mut out = tokio::fs::File::from_std(file.reopen().map_err(internal)?);
    let mut start = Vec::new();
    let mut size = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("request body: {e}")))?;
        size += chunk.len() as u64;
        if size > config.max_upload_bytes {
            return Err(too_large(config.max_upload_bytes));
        }
        slot.spool(chunk.len() as u64, config.max_spool_bytes)?;
        if start.len() < 256 {
            let take = (256 - start.len()).min(chunk.len());
            start.extend_from_slice(&chunk[..take]);
        }
        out.write_all(&chunk).await.map_err(internal)?;
    }
    out.flush().await.map_err(internal)?;
    Ok((file, start))
}

#[utoipa::path(post, path = "/api/v1/profile-types/{name}/orders", tag = "Warehouse",
    params(("name" = String, Path, description = "Profile type"), UploadQuery),
    request_body(content = String, content_type = "text/csv", description = "The order file (CSV, or the SIM-vendor `.out` layout with another content type)"),
    responses((status = 201, description = "Imported", body = crate::warehouse::import::ImportReport),
        (status = 400, description = "Invalid request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 404, description = "No such profile type", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 409, description = "Stock state", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 413, description = "File too large", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 422, description = "The order file is refused; nothing was imported", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 429, description = "Too many uploads at once", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 507, description = "No room to spool the file", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn upload_order(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> HttpResponse {
    // Authenticate before taking the upload; an announced size over the limit is refused unread.
    let cert = req.conn_data::<PeerCertificate>().cloned();
    let smdp = state.smdp.clone();
    let caller = match web::block(move || {
        smdp.callers
            .resolve(&smdp.store, cert.as_ref(), REST)
            .map_err(|e| caller_problem(&e))
    })
    .await
    .unwrap_or_else(|e| Err(internal(e)))
    {
        Ok(c) => c,
        Err(p) => return p.response(),
    };
    let announced = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > state.config.max_upload_bytes) {
        return too_large(state.config.max_upload_bytes).response();
    }
    let mut slot = match state
        .uploads
        .begin(&caller.oid, state.config.max_uploads_per_mno.max(1))
    {
        Ok(s) => s,
        Err(p) => return p.response(),
    };
    let (file, start) = match spool(payload, &state.config, &mut slot).await {
        Ok(f) => f,
        Err(p) => return p.response(),
    };
    let options = state.config.import.clone();
    let csv = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"));
    let format = if csv {
        BatchFormat::Csv
    } else {
        import::sniff_format(&start)
    };
    let profile_type = path.into_inner();
    let name = query
        .into_inner()
        .filename
        .unwrap_or_else(|| format!("upload-{}", now_millis()));
    as_mno(&req, &state, move |smdp, caller, _| {
        let source = NamedSource {
            file: FileSource {
                path: file.path().to_path_buf(),
            },
            name,
        };
        let report = import::import_order_with(
            &smdp.store,
            &smdp.keyring,
            &caller.oid,
            &profile_type,
            &source,
            format,
            &options,
            &mut |_| {},
        )
        .map_err(|e| warehouse_problem(&e))?;
        drop(file);
        drop(slot);
        json(StatusCode::CREATED, &report)
    })
    .await
}

/// A spooled upload under the name the MNO gave it.
struct NamedSource {
    file: FileSource,
    name: String,
}

impl import::OrderSource for NamedSource {
    fn open(&self) -> std::io::Result<Box<dyn std::io::Read + Send + '_>> {
        self.file.open()
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn size(&self) -> Option<u64> {
        self.file.size()
    }
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "Warehouse",
    params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = crate::warehouse::stock::OrderInfo),
        (status = 400, description = "Invalid id", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 404, description = "No such order of this MNO", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn get_order(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<i64>,
) -> HttpResponse {
    let id = path.into_inner();
    as_mno(&req, &state, move |smdp, caller, _| {
        let o =
            stock::order(&mut *conn(smdp)?, &caller.oid, id).map_err(|e| warehouse_problem(&e))?;
        json(StatusCode::OK, &o)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/stock", tag = "Warehouse",
    responses((status = 200, description = "Stock levels per profile type", body = Vec<crate::warehouse::stock::StockLevelInfo>),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn get_stock(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    as_mno(&req, &state, |smdp, caller, _| {
        let levels =
            stock::levels(&mut *conn(smdp)?, &caller.oid).map_err(|e| warehouse_problem(&e))?;
        json(StatusCode::OK, &levels)
    })
    .await
}

/// Query of the output file.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// Only the records of this order.
    order: Option<i64>,
}

fn export_answer(
    smdp: &Smdp,
    caller: &Caller,
    profile_type: &str,
    order: Option<i64>,
    recipient: Option<&certs::ecc::PublicKey>,
) -> Answer {
    // Spooled to an anonymous temporary file and streamed from there, so a large file is never held in memory.
    let mut file = tempfile::tempfile().map_err(internal)?;
    export::export_installed(
        &mut *conn(smdp)?,
        &smdp.keyring,
        &caller.oid,
        &ExportRequest {
            profile_type,
            order,
            secrets_for: recipient,
        },
        std::io::BufWriter::new(&mut file),
    )
    .map_err(|e| warehouse_problem(&e))?;
    file.seek(std::io::SeekFrom::Start(0)).map_err(internal)?;
    Ok(Reply::Csv(file))
}

#[utoipa::path(get, path = "/api/v1/profile-types/{name}/installed", tag = "Warehouse",
    params(("name" = String, Path, description = "Profile type"), ExportQuery),
    responses((status = 200, description = "The output file, no secrets", body = String, content_type = "text/csv"),
        (status = 400, description = "Invalid request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 404, description = "No such profile type or order", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn export_plain(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> HttpResponse {
    let profile_type = path.into_inner();
    let order = query.order;
    as_mno(&req, &state, move |smdp, caller, _| {
        export_answer(smdp, caller, &profile_type, order, None)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/profile-types/{name}/installed", tag = "Warehouse",
    params(("name" = String, Path, description = "Profile type"), ExportQuery),
    request_body(content = String, content_type = "text/plain", description = "The caller's own TLS client certificate (PEM)"),
    responses((status = 200, description = "The output file with secrets encrypted for the certificate", body = String, content_type = "text/csv"),
        (status = 400, description = "Invalid request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 404, description = "No such profile type or order", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 403, description = "Not an MNO of this SM-DP", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 500, description = "The SM-DP could not complete the request", body = ProblemDetail, content_type = "application/problem+json"),
        (status = 503, description = "Unavailable", body = ProblemDetail, content_type = "application/problem+json")))]
async fn export_with_secrets(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_body(payload, 64 << 10).await {
        Ok(b) => b,
        Err(p) => return p.response(),
    };
    let profile_type = path.into_inner();
    let order = query.order;
    as_mno(&req, &state, move |smdp, caller, cert| {
        let pem = String::from_utf8(body).map_err(|_| bad_request("certificate: not PEM text"))?;
        let given = X509Certificate::from_pem(&pem)
            .map_err(|e| bad_request(format!("certificate: {e}")))?;
        if cert.map(|c| c.sha256) != Some(given.sha256_fingerprint()) {
            return Err(problem(
                StatusCode::FORBIDDEN,
                "not-own-certificate",
                "Secrets are encrypted only for the caller's own certificate",
                "the certificate in the body is not the TLS client certificate of this connection"
                    .into(),
            ));
        }
        let key = export::recipient_key(&mut *conn(smdp)?, &caller.oid, &pem)
            .map_err(|e| warehouse_problem(&e))?;
        export_answer(smdp, caller, &profile_type, order, Some(&key))
    })
    .await
}

async fn not_found() -> HttpResponse {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such resource",
        "no REST resource at this path and method".into(),
    )
    .response()
}

/// The OpenAPI document of the SM-DP's `/api/v1` (warehouse and ES2 twin).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "rsp SM-DP REST API",
        description = "For MNOs, on the SM-DP's mutual-TLS listener: the profile warehouse (profile types, orders, \
            stock, output files) and ES2 (SGP.02 §5.3) as JSON — the same functions, function-call record and \
            SGP.02 status codes as the SOAP endpoint; `Idempotency-Key` is the FunctionCallIdentifier; errors are \
            RFC 9457 problem+json (with `sgp02Status` for ES2)."
    ),
    paths(list_profile_types, add_profile_type, upload_order, get_order, get_stock, export_plain,
        export_with_secrets, crate::rest_es2::get_eis, crate::rest_es2::download_profile,
        crate::rest_es2::enable_profile, crate::rest_es2::disable_profile, crate::rest_es2::delete_profile,
        crate::rest_es2::update_policy_rules, crate::rest_es2::update_subscription_address,
        crate::rest_es2::function_call),
    components(schemas(ProblemDetail, Refusal, RowError, NewProfileTypeBody,
        crate::rest_es2::DownloadOptions, crate::rest_es2::RelayOptions,
        crate::rest_es2::PolicyRulesOptions, crate::rest_es2::SubscriptionAddressOptions,
        es_runtime::rest_twin::Pol2RuleBody,
        es_runtime::rest_twin::FunctionResult, es_runtime::rest_twin::Accepted,
        es_runtime::rest_twin::FunctionCallView, es_runtime::rest_twin::Problem)),
    modifiers(&MutualTlsSecurity)
)]
pub struct SmdpApi;

/// The document, built once.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(SmdpApi::openapi)
}

async fn openapi_json() -> HttpResponse {
    es_runtime::rest_twin::openapi_response(openapi())
}

/// Registers the REST API's routes under `/api/v1/` (add to the SM-DP listener's routes).
pub fn configure(cfg: &mut web::ServiceConfig, smdp: Arc<Smdp>, config: RestConfig) {
    let state = web::Data::new(State {
        smdp: smdp.clone(),
        config,
        uploads: Arc::new(Uploads::default()),
    });
    let path_error = web::PathConfig::default().error_handler(|e, _| {
        let detail = e.to_string();
        actix_web::error::InternalError::from_response(e, bad_request(detail).response()).into()
    });
    let query_error = web::QueryConfig::default().error_handler(|e, _| {
        let detail = e.to_string();
        actix_web::error::InternalError::from_response(e, bad_request(detail).response()).into()
    });
    let scope = crate::rest_es2::routes(web::scope("/api/v1"), smdp.clone());
    cfg.service(
        scope
            .app_data(state)
            .app_data(path_error)
            .app_data(query_error)
            .route("/profile-types", web::get().to(list_profile_types))
            .route("/profile-types", web::post().to(add_profile_type))
            .route("/profile-types/{name}/orders", web::post().to(upload_order))
            .route(
                "/profile-types/{name}/installed",
                web::get().to(export_plain),
            )
            .route(
                "/profile-types/{name}/installed",
                web::post().to(export_with_secrets),
            )
            .route("/orders/{id}", web::get().to(get_order))
            .route("/stock", web::get().to(get_stock))
            .route("/openapi.json", web::get().to(openapi_json))
            .default_service(web::to(not_found)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One MNO cannot hold more uploads than its share, nor all uploads more bytes than the spool limit; both
    /// are given back when an upload ends.
    #[test]
    fn uploads_are_limited_per_mno_and_in_bytes() {
        let uploads = Arc::new(Uploads::default());
        let mut a1 = uploads.begin("1.1", 2).unwrap();
        let a2 = uploads.begin("1.1", 2).unwrap();
        let e = uploads.begin("1.1", 2).unwrap_err();
        assert_eq!(
            (e.status, e.kind.as_str()),
            (429, "urn:rsp:problem:too-many-uploads")
        );
        let mut b = uploads.begin("2.2", 2).unwrap();
        drop(a2);
        let a3 = uploads.begin("1.1", 2).unwrap();
        a1.spool(600, 1000).unwrap();
        let e = b.spool(500, 1000).unwrap_err();
        assert_eq!(
            (e.status, e.kind.as_str()),
            (507, "urn:rsp:problem:spool-full")
        );
        drop(b);
        drop(a1);
        assert_eq!(uploads.spooled.load(Ordering::SeqCst), 0);
        drop(a3);
        assert!(uploads.per_mno.lock().unwrap().is_empty());
    }
}
