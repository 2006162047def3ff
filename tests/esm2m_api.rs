//! ESM2M, the eUICC owner's REST API, as an owner and an operator use it, on SQLite and PostgreSQL: owners
//! registered with `rsp entity add --role euicc-owner`, eUICCs assigned with `rsp owner assign` (all or nothing),
//! tokens created, listed and revoked with `rsp owner token`, and the API on the SM-SR's ESM2M listener: 401 and
//! 403 problem+json that change nothing, the owner's eUICCs only, cursor paging, the MNO filter, and a second
//! owner who cannot tell another fleet's eUICC from one that does not exist.

mod support;

use std::process::{Command, Output};

use eis_store::eis::ProfileState;
use eis_store::owners;
use rsp::lab::{FleetSource, Lab};
use serde_json::Value;
use smsr::esm2m::ApiToken;
use support::small_lab;

const OWNER_A: &str = "1.3.6.1.4.1.4242.90.1";
const OWNER_B: &str = "1.3.6.1.4.1.4242.90.2";
const NO_SUCH_EID: &str = "89049032000000000000000000000999";

struct Ctx<'a> {
    lab: &'a Lab,
    db: String,
    http: reqwest::Client,
    base: String,
}

impl Ctx<'_> {
    fn rsp(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rsp"))
            .arg("--var-dir")
            .arg(&self.lab.config.var_dir)
            .args(args)
            .args(["--smsr-database-url", &self.db])
            .env_remove("RSP_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run rsp")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.rsp(args);
        assert!(
            out.status.success(),
            "rsp {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    fn refused(&self, args: &[&str]) -> String {
        let out = self.rsp(args);
        assert!(!out.status.success(), "rsp {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn tokens(&self, owner: &str) -> Vec<Value> {
        let v: Value =
            serde_json::from_str(&self.ok(&["owner", "token", "list", "--owner", owner, "--json"]))
                .expect("JSON");
        v.as_array().expect("array").clone()
    }

    fn create_token(&self, owner: &str, scopes: &str) -> (String, i64) {
        let token = self
            .ok(&[
                "owner",
                "token",
                "create",
                "--owner",
                owner,
                "--scopes",
                scopes,
                "--expires",
                "30",
            ])
            .trim()
            .to_string();
        let id = self.tokens(owner).last().expect("a token")["id"]
            .as_i64()
            .expect("id");
        (token, id)
    }

    async fn get(&self, path: &str, auth: Option<&str>) -> (u16, String, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body: Value = resp.json().await.expect("JSON body");
        (status, ctype, body)
    }

    async fn owner_get(&self, path: &str, token: &str) -> (u16, String, Value) {
        self.get(path, Some(&format!("Bearer {token}"))).await
    }

    async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        key: Option<&str>,
    ) -> (u16, String, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, ctype, resp.json().await.expect("JSON body"))
    }

    /// The owners of `eids`, as stored.
    fn owners_of(&self, eids: &[String]) -> Vec<Option<String>> {
        let mut c = self.lab.smsr.store.conn().expect("conn");
        eids.iter()
            .map(|e| owners::owner_of(&mut c, e).expect("owner"))
            .collect()
    }

    /// Every EID of the owner's list, page by page of `limit`.
    async fn all_pages(&self, token: &str, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let path = match &after {
                None => format!("/euiccs?limit={limit}"),
                Some(a) => format!("/euiccs?limit={limit}&after={a}"),
            };
            let (status, _, body) = self.owner_get(&path, token).await;
            assert_eq!(status, 200, "{body}");
            let items = body["items"].as_array().expect("items");
            assert!(items.len() <= limit, "{body}");
            out.extend(
                items
                    .iter()
                    .map(|i| i["eid"].as_str().expect("eid").to_string()),
            );
            match body["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => return out,
            }
        }
        panic!("paging does not end");
    }
}

fn assert_problem(status: u16, ctype: &str, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(ctype, "application/problem+json", "{body}");
    assert_eq!(body["status"], expected, "{body}");
    for field in ["type", "title", "detail"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} in {body}"
        );
    }
}

fn last_used(ctx: &Ctx<'_>, owner: &str, id: i64) -> Value {
    ctx.tokens(owner)
        .into_iter()
        .find(|t| t["id"] == id)
        .expect("token listed")["last_used"]
        .clone()
}

async fn scenario(lab: &Lab) {
    let pki = &lab.world.dir;
    let ca = std::fs::read(pki.join(&lab.world.manifest.tls_ca.cert)).expect("TLS CA");
    let http = reqwest::Client::builder()
        .tls_backend_native()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .build()
        .expect("client without a client certificate");
    let ctx = Ctx {
        lab,
        db: lab
            .config
            .resolve_database_url(&lab.config.smsr.database_url),
        http,
        base: format!("{}/esm2m/v1", lab.config.esm2m.public_url),
    };
    let eids = {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::list_eids(&mut c, None, 100).expect("EIDs")
    };
    assert_eq!(eids.len(), 7);
    let (mine, theirs) = eids.split_at(5);

    // Owners: entities of role euicc-owner; anything else is refused.
    for (oid, name) in [(OWNER_A, "Fleet A"), (OWNER_B, "Fleet B")] {
        ctx.ok(&[
            "entity",
            "add",
            "--oid",
            oid,
            "--role",
            "euicc-owner",
            "--name",
            name,
            "--server",
            "smsr",
        ]);
    }
    let mno = lab.world.manifest.mnos[0].entity.oid.clone();
    let err = ctx.refused(&[
        "owner",
        "token",
        "create",
        "--owner",
        &mno,
        "--scopes",
        "read",
        "--expires",
        "1",
    ]);
    assert!(err.contains("euicc-owner"), "{err}");
    let err = ctx.refused(&[
        "owner",
        "token",
        "create",
        "--owner",
        "1.2.3.4",
        "--scopes",
        "read",
        "--expires",
        "1",
    ]);
    assert!(err.contains("unknown owner 1.2.3.4"), "{err}");
    let err = ctx.refused(&[
        "owner",
        "token",
        "create",
        "--owner",
        OWNER_A,
        "--scopes",
        "write",
        "--expires",
        "1",
    ]);
    assert!(err.contains("unknown scope"), "{err}");
    assert!(ctx.tokens(OWNER_A).is_empty());

    // Assignment is all or nothing.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("a.txt");
    std::fs::write(
        &file,
        format!("# fleet A\n{}\n{NO_SUCH_EID}\n", mine.join("\n")),
    )
    .expect("write");
    let err = ctx.refused(&[
        "owner",
        "assign",
        "--owner",
        OWNER_A,
        "--eids",
        &file.display().to_string(),
    ]);
    assert!(
        err.contains(NO_SUCH_EID) && err.contains("nothing was assigned"),
        "{err}"
    );
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        for e in &eids {
            assert_eq!(owners::owner_of(&mut c, e).expect("owner"), None, "{e}");
        }
    }
    std::fs::write(&file, mine.join("\n")).expect("write");
    let out = ctx.ok(&[
        "owner",
        "assign",
        "--owner",
        OWNER_A,
        "--eids",
        &file.display().to_string(),
    ]);
    assert!(out.contains("5 eUICC(s) assigned"), "{out}");
    let file_b = dir.path().join("b.txt");
    std::fs::write(&file_b, theirs.join("\n")).expect("write");
    ctx.ok(&[
        "owner",
        "assign",
        "--owner",
        OWNER_B,
        "--eids",
        &file_b.display().to_string(),
    ]);
    let err = ctx.refused(&[
        "owner",
        "assign",
        "--owner",
        &mno,
        "--eids",
        &file_b.display().to_string(),
    ]);
    assert!(err.contains("euicc-owner"), "{err}");

    let (read_a, read_a_id) = ctx.create_token(OWNER_A, "read");
    assert!(read_a.starts_with("esm2m_"), "{read_a}");
    let (operate_a, operate_a_id) = ctx.create_token(OWNER_A, "operate,admin");
    let (read_b, _) = ctx.create_token(OWNER_B, "read,operate");
    let listed = ctx.ok(&["owner", "token", "list", "--owner", OWNER_A]);
    assert!(
        !listed.contains(&read_a[6..]) && !listed.contains(&operate_a[6..]),
        "{listed}"
    );
    assert!(listed.contains("operate,admin"), "{listed}");
    // An expired token (the CLI refuses to create one; the store does not care).
    let expired = ApiToken::generate().expect("token");
    let expired_id = {
        let mut c = lab.smsr.store.conn().expect("conn");
        let now = eis_store::now_millis();
        owners::create_token(
            &mut c,
            OWNER_A,
            &expired.hash(),
            "read",
            now - 1,
            now - 86_400_000,
        )
        .expect("expired token")
    };

    // Refusals: 401 / 403 problem+json, nothing recorded.
    let (s, t, b) = ctx.get("/euiccs", None).await;
    assert_problem(s, &t, &b, 401);
    for (auth, challenge) in [
        (None, "Bearer realm=\"esm2m\""),
        (
            Some("Bearer esm2m_x"),
            "Bearer realm=\"esm2m\", error=\"invalid_token\"",
        ),
    ] {
        let mut req = ctx.http.get(format!("{}/euiccs", ctx.base));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some(challenge)
        );
    }
    for auth in [
        "Bearer".to_string(),
        "Bearer not-a-token".to_string(),
        format!("Basic {read_a}"),
        format!(
            "Bearer {}",
            ApiToken::generate().expect("token").text().as_str()
        ),
        format!("Bearer {}", expired.text().as_str()),
    ] {
        let (s, t, b) = ctx.get("/euiccs", Some(&auth)).await;
        assert_problem(s, &t, &b, 401);
    }
    let (s, t, b) = ctx.owner_get("/euiccs", &operate_a).await;
    assert_problem(s, &t, &b, 403);
    let (s, t, b) = ctx
        .owner_get(&format!("/euiccs/{}", mine[0]), &operate_a)
        .await;
    assert_problem(s, &t, &b, 403);
    assert_eq!(last_used(&ctx, OWNER_A, operate_a_id), Value::Null);
    assert_eq!(last_used(&ctx, OWNER_A, expired_id), Value::Null);
    assert_eq!(last_used(&ctx, OWNER_A, read_a_id), Value::Null);

    // The owner's eUICCs, each once, whatever the page size.
    for limit in [1, 2, 3, 5, 1000] {
        assert_eq!(ctx.all_pages(&read_a, limit).await, mine, "limit {limit}");
    }
    assert_ne!(last_used(&ctx, OWNER_A, read_a_id), Value::Null);
    for bad in [
        "/euiccs?limit=0",
        "/euiccs?limit=1001",
        "/euiccs?limit=x",
        "/euiccs?colour=red",
    ] {
        let (s, t, b) = ctx.owner_get(bad, &read_a).await;
        assert_problem(s, &t, &b, 400);
    }

    // One eUICC with its profiles, as the store has them.
    let (s, _, one) = ctx
        .owner_get(&format!("/euiccs/{}", mine[0]), &read_a)
        .await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["eid"], mine[0].as_str());
    let stored: Vec<_> = {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::profiles_of(&mut c, &mine[0]).expect("profiles")
    };
    let shown = one["profiles"].as_array().expect("profiles");
    assert!(!shown.is_empty(), "{one}");
    assert_eq!(
        shown.len(),
        stored
            .iter()
            .filter(|p| p.info.state != ProfileState::InCreation)
            .count()
    );
    for (p, s) in shown.iter().zip(stored.iter()) {
        assert_eq!(p["iccid"], s.info.iccid.as_str());
        assert_eq!(p["state"], s.info.state.as_str());
        assert_eq!(p["mnoId"], s.info.mno_id.as_str());
        assert_eq!(p["fallback"], s.info.fallback);
    }
    let enabled = stored
        .iter()
        .find(|p| p.info.state == ProfileState::Enabled)
        .expect("an enabled profile");
    assert_eq!(one["enabledIccid"], enabled.info.iccid.as_str());

    // The MNO filter: the owner's eUICCs whose enabled profile is that MNO's.
    let mno_x = enabled.info.mno_id.clone();
    let expected: Vec<String> = {
        let mut c = lab.smsr.store.conn().expect("conn");
        mine.iter()
            .filter(|e| {
                eis_store::eis::profiles_of(&mut c, e)
                    .expect("profiles")
                    .iter()
                    .any(|p| p.info.state == ProfileState::Enabled && p.info.mno_id == mno_x)
            })
            .cloned()
            .collect()
    };
    let (s, _, page) = ctx
        .owner_get(&format!("/euiccs?enabledMno={mno_x}"), &read_a)
        .await;
    assert_eq!(s, 200, "{page}");
    let got: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["eid"].as_str().expect("eid"))
        .collect();
    assert_eq!(got, expected);
    let (_, _, none) = ctx.owner_get("/euiccs?enabledMno=1.2.3.4", &read_a).await;
    assert_eq!(none["items"], Value::Array(Vec::new()), "{none}");

    // The second owner sees its own fleet only, and cannot tell another's eUICC from none.
    assert_eq!(ctx.all_pages(&read_b, 10).await, theirs);
    let (s1, t1, foreign) = ctx
        .owner_get(&format!("/euiccs/{}", mine[0]), &read_b)
        .await;
    let (s2, t2, absent) = ctx
        .owner_get(&format!("/euiccs/{NO_SUCH_EID}"), &read_b)
        .await;
    assert_problem(s1, &t1, &foreign, 404);
    assert_problem(s2, &t2, &absent, 404);
    assert_eq!(
        foreign.to_string().replace(&mine[0], "EID"),
        absent.to_string().replace(NO_SUCH_EID, "EID")
    );
    let (s, _, own) = ctx
        .owner_get(&format!("/euiccs/{}", theirs[0]), &read_b)
        .await;
    assert_eq!(s, 200, "{own}");
    let (s, t, b) = ctx
        .owner_get(&format!("/euiccs/{}", theirs[0]), &read_a)
        .await;
    assert_problem(s, &t, &b, 404);

    transfers(&ctx, mine, theirs, &operate_a, &read_b, &mno).await;

    // Revocation: refused from the next request on.
    let out = ctx.ok(&["owner", "token", "revoke", "--id", &read_a_id.to_string()]);
    assert!(out.contains("revoked"), "{out}");
    let before = last_used(&ctx, OWNER_A, read_a_id);
    let (s, t, b) = ctx.owner_get("/euiccs", &read_a).await;
    assert_problem(s, &t, &b, 401);
    assert!(
        b["detail"].as_str().expect("detail").contains("revoked"),
        "{b}"
    );
    assert_eq!(last_used(&ctx, OWNER_A, read_a_id), before);
    let listed = ctx.tokens(OWNER_A);
    let revoked = listed
        .iter()
        .find(|t| t["id"] == read_a_id)
        .expect("listed");
    assert!(revoked["revoked"].is_string(), "{revoked}");
    let err = ctx.refused(&["owner", "token", "revoke", "--id", "999999"]);
    assert!(err.contains("no token 999999"), "{err}");
}

/// `POST /esm2m/v1/euicc-transfers` and `rsp fleet transfer`: A (scope admin) hands two of its eUICCs to B, all
/// or nothing; refusals change no owner.
async fn transfers(
    ctx: &Ctx<'_>,
    mine: &[String],
    theirs: &[String],
    admin_a: &str,
    operate_b: &str,
    mno: &str,
) {
    let body = |to: &str, eids: &[String]| serde_json::json!({"toOwner": to, "eids": eids});
    let a = Some(OWNER_A.to_string());
    let b = Some(OWNER_B.to_string());
    let moving = &mine[3..5];
    let before = ctx.owners_of(mine);

    // Refusals: each a problem, no owner changed.
    let (s, t, p) = ctx
        .post("/euicc-transfers", operate_b, &body(OWNER_A, theirs), None)
        .await;
    assert_problem(s, &t, &p, 403);
    let mut with_foreign = moving.to_vec();
    with_foreign.push(theirs[0].clone());
    with_foreign.push(NO_SUCH_EID.to_string());
    let (s, t, p) = ctx
        .post(
            "/euicc-transfers",
            admin_a,
            &body(OWNER_B, &with_foreign),
            None,
        )
        .await;
    assert_problem(s, &t, &p, 404);
    let detail = p["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&theirs[0]) && detail.contains(NO_SUCH_EID) && !detail.contains(&mine[3]),
        "{p}"
    );
    for to in [OWNER_A, "1.2.3.4", mno] {
        let (s, t, p) = ctx
            .post("/euicc-transfers", admin_a, &body(to, moving), None)
            .await;
        assert_problem(s, &t, &p, 422);
    }
    for bad in [
        body(OWNER_B, &[]),
        body(OWNER_B, &[mine[3].clone(), mine[3].clone()]),
        serde_json::json!({"eids": moving}),
    ] {
        let (s, t, p) = ctx.post("/euicc-transfers", admin_a, &bad, None).await;
        assert_problem(s, &t, &p, 400);
    }
    // An operation under way on one of them: 409 naming it.
    let op = {
        let mut c = ctx.lab.smsr.store.conn().expect("conn");
        let now = eis_store::now_millis();
        eis_store::operations::create(
            &mut c,
            &eis_store::operations::NewOperation {
                eid: mine[4].clone(),
                kind: "AuditEIS".into(),
                function_call_id: None,
                requester_oid: OWNER_A.into(),
                interface: "ESM2M".into(),
                iccid: None,
                isd_p_aid: None,
                deadline: now + 3_600_000,
                data: "{}".into(),
            },
            now,
        )
        .expect("operation")
    };
    let (s, t, p) = ctx
        .post("/euicc-transfers", admin_a, &body(OWNER_B, moving), None)
        .await;
    assert_problem(s, &t, &p, 409);
    assert!(
        p["detail"].as_str().expect("detail").contains(&mine[4]),
        "{p}"
    );
    {
        let mut c = ctx.lab.smsr.store.conn().expect("conn");
        eis_store::operations::update(
            &mut c,
            op.id,
            eis_store::operations::OperationState::Active,
            &eis_store::operations::OperationUpdate {
                state: Some(eis_store::operations::OperationState::Failed),
                data: None,
                retry_at: None,
            },
            eis_store::now_millis(),
        )
        .expect("ended");
    }
    assert_eq!(ctx.owners_of(mine), before, "refusals change nothing");

    // The transfer, and its repeat with the same key answering the first answer.
    let (s, _, first) = ctx
        .post(
            "/euicc-transfers",
            admin_a,
            &body(OWNER_B, moving),
            Some("t-1"),
        )
        .await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["transferred"], 2, "{first}");
    assert_eq!(
        (first["fromOwner"].as_str(), first["toOwner"].as_str()),
        (Some(OWNER_A), Some(OWNER_B))
    );
    let (s, _, again) = ctx
        .post(
            "/euicc-transfers",
            admin_a,
            &body(OWNER_B, moving),
            Some("t-1"),
        )
        .await;
    assert_eq!((s, &again), (200, &first));
    assert_eq!(
        ctx.owners_of(mine),
        vec![a.clone(), a.clone(), a.clone(), b.clone(), b.clone()]
    );
    let (read_a, _) = ctx.create_token(OWNER_A, "read");
    let (s, t, p) = ctx
        .owner_get(&format!("/euiccs/{}", mine[3]), &read_a)
        .await;
    assert_problem(s, &t, &p, 404);
    assert_eq!(ctx.all_pages(&read_a, 2).await, &mine[..3]);
    let (s, _, one) = ctx
        .owner_get(&format!("/euiccs/{}", mine[3]), operate_b)
        .await;
    assert_eq!(s, 200, "{one}");
    let mut b_now: Vec<String> = theirs.iter().chain(moving).cloned().collect();
    b_now.sort();
    assert_eq!(ctx.all_pages(operate_b, 3).await, b_now);

    // B hands one back with the CLI.
    let (admin_b, _) = ctx.create_token(OWNER_B, "admin");
    let file = ctx.lab.config.var_dir.join("back.txt");
    std::fs::write(&file, format!("eid\n{}\n", mine[4])).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rsp"))
        .args(["fleet", "--url", &ctx.base, "--token", &admin_b, "--cacert"])
        .arg(ctx.lab.world.dir.join(&ctx.lab.world.manifest.tls_ca.cert))
        .args(["transfer", "--to-owner", OWNER_A, "--eids"])
        .arg(&file)
        .env_remove("RSP_CONFIG")
        .output()
        .expect("run rsp fleet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "1 eUICC(s) transferred from {OWNER_B} to {OWNER_A}"
        )),
        "{stdout}"
    );
    assert_eq!(ctx.owners_of(&mine[3..5]), vec![b, a]);
}

fn seeded(o: &mut rsp::lab::LabOptions) {
    o.fleet = FleetSource::Seeded { seed: 12, count: 7 };
    o.receivers = None;
}

#[actix_web::test]
async fn owner_api_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, seeded).await;
    scenario(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn owner_api_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        seeded(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    scenario(&lab).await;
    lab.stop().await;
}
