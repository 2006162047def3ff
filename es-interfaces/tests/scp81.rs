//! SCP81 texts and bytes (wire-profile §3): PSK identity, X-Admin headers, Next-URI and the session trigger, each
//! round-tripped and compared with bytes written from the contract text (the trigger's computed by a separate
//! Python script from wire-profile §3, not from this code).

use es_interfaces::scp81::{
    AdminFrom, ConnectionParameters, NextUri, PskIdentity, RetryPolicy, ScriptStatus,
    SessionTrigger, aid_address, parse_aid_address,
};
use es_interfaces::wire_profile::ISD_R_AID;

const EID: &str = "89049032123451234512345678901235";

/// `80 01 02 | 81 10 <EID> | 4F 10 <ISD-R AID> | 82 01 01 | 83 01 40`, upper-case hex, by hand.
const IDENTITY_TEXT: &str = concat!(
    "800102",
    "8110",
    "89049032123451234512345678901235",
    "4F10",
    "A0000005591010FFFFFFFF8900000100",
    "820101",
    "830140"
);

const ADMIN_FROM: &str =
    "//se-id/eid/89049032123451234512345678901235;//aa-id/aid/A000000559/1010FFFFFFFF8900000100";

fn identity() -> PskIdentity {
    PskIdentity {
        eid: hex::decode(EID).unwrap().try_into().unwrap(),
        isd_r_aid: ISD_R_AID.to_vec(),
        key_id: 0x01,
        kvn: 0x40,
    }
}

#[test]
fn psk_identity_matches_the_contract_and_round_trips() {
    let id = identity();
    assert_eq!(id.to_text().unwrap(), IDENTITY_TEXT);
    assert_eq!(id.eid_text(), EID);
    assert_eq!(
        PskIdentity::parse_text(IDENTITY_TEXT.as_bytes()).unwrap(),
        id
    );
    // The server accepts lower case too.
    assert_eq!(
        PskIdentity::parse_text(IDENTITY_TEXT.to_ascii_lowercase().as_bytes()).unwrap(),
        id
    );
}

#[test]
fn psk_identity_refusals() {
    let bad = |t: &str| {
        PskIdentity::parse_text(t.as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert!(bad("80010Z").contains("not hexadecimal"));
    // KVN 30 is an SCP03 key set.
    assert!(bad(&IDENTITY_TEXT.replace("830140", "830130")).contains("not an SCP81 key set"));
    // Type other than 02.
    assert!(bad(&IDENTITY_TEXT.replace("800102", "800101")).contains("type"));
    // Key id before the AID: wrong order.
    let swapped = format!(
        "800102811089049032123451234512345678901235820101{}830140",
        "4F10A0000005591010FFFFFFFF8900000100"
    );
    assert!(bad(&swapped).contains("expected TLVs"));
    // Trailing TLV.
    assert!(bad(&format!("{IDENTITY_TEXT}840100")).contains("expected TLVs"));
    // Short EID.
    assert!(
        bad("8001028108890490321234512E4F10A0000005591010FFFFFFFF8900000100820101830140")
            .contains("PSK identity")
    );
}

#[test]
fn admin_from_and_targeted_application() {
    let from = AdminFrom {
        eid: hex::decode(EID).unwrap().try_into().unwrap(),
        aid: ISD_R_AID.to_vec(),
    };
    assert_eq!(from.to_header().unwrap(), ADMIN_FROM);
    assert_eq!(AdminFrom::parse(ADMIN_FROM).unwrap(), from);
    let lower = format!(
        "//se-id/eid/{EID};//aa-id/aid/a000000559/{}",
        "1010ffffffff8900000100"
    );
    assert_eq!(AdminFrom::parse(&lower).unwrap(), from);
    assert!(AdminFrom::parse("//se-id/eid/8904;//aa-id/aid/A000000559/10").is_err());

    let isdp = hex::decode("A0000005591010FFFFFFFF8900001100").unwrap();
    let addr = aid_address(&isdp).unwrap();
    assert_eq!(addr, "//aid/A000000559/1010FFFFFFFF8900001100");
    assert_eq!(parse_aid_address(&addr).unwrap(), isdp);
    assert_eq!(
        parse_aid_address("//aid/a000000559/1010ffffffff8900001100").unwrap(),
        isdp
    );
    assert!(parse_aid_address("//aid/A0000005/591010").is_err());
    assert!(aid_address(&[0xA0, 0, 0, 5, 0x59]).is_none());
}

#[test]
fn next_uri_round_trip_and_refusals() {
    let n = NextUri {
        path: "/gp/ram".into(),
        session: "3f2a-9".into(),
        sequence: 7,
    };
    let h = n.to_header().unwrap();
    assert_eq!(h, "/gp/ram?session=3f2a-9&seq=7");
    assert_eq!(NextUri::parse(&h).unwrap(), n);
    assert_eq!(
        NextUri::parse("/gp/ram?seq=7&session=3f2a-9").unwrap(),
        n,
        "parameter order does not matter"
    );
    for bad in [
        "/gp/ram",
        "/gp/ram?session=a",
        "/gp/ram?session=a&seq=1&seq=2",
        "/gp/ram?session=a&seq=x",
        "/gp/ram?session=a&seq=1&other=2",
        "https://h/gp/ram?session=a&seq=1",
        "//h/gp/ram?session=a&seq=1",
        "/gp/ram?session=a b&seq=1",
    ] {
        assert!(NextUri::parse(bad).is_err(), "{bad}");
    }
    assert!(
        NextUri {
            path: "gp".into(),
            ..n
        }
        .to_header()
        .is_none()
    );
}

#[test]
fn script_status_values() {
    assert_eq!(ScriptStatus::parse("ok").unwrap(), ScriptStatus::Ok);
    assert_eq!(
        ScriptStatus::parse(" Unknown-Application ").unwrap(),
        ScriptStatus::UnknownApplication
    );
    assert_eq!(
        ScriptStatus::UnknownApplication.as_str(),
        "unknown-application"
    );
    assert!(ScriptStatus::parse("fine").is_err());
}

/// Computed from wire-profile §3 by an independent Python script (nested `T(tag, value)` with BER lengths):
/// port 4443, 127.0.0.1, bearer `03`, buffer 1500, the identity above, retry 3 × 00:10:00 (semi-octet
/// `00 01 00`), host `localhost`, agent id = the X-Admin-From value, URI `/gp/ram`.
const TRIGGER_VECTOR: &str = concat!(
    "8181F3",
    "8381F0",
    "8413350103390205DC3C0302115B3E05217F000001",
    "855E5A",
    "383030313032383131303839303439303332313233343531323334353132333435363738393031323335",
    "34463130413030303030303535393130313046464646464646463839303030303031303038323031303138333031343002",
    "4001",
    "86070003250300010089708A096C6F63616C686F73748B5A",
    "2F2F73652D69642F6569642F38393034393033323132333435313233343531323334353637383930313233353B2F2F6161",
    "2D69642F6169642F413030303030303535392F31303130464646464646464638393030303030313030",
    "8C072F67702F72616D"
);

fn trigger() -> SessionTrigger {
    SessionTrigger {
        connection: ConnectionParameters {
            bearer: vec![0x03],
            buffer_size: 1500,
            port: 4443,
            ipv4: [127, 0, 0, 1],
        },
        identity: identity(),
        retry: RetryPolicy {
            counter: 3,
            timer: [0, 10, 0],
        },
        host: "localhost".into(),
        agent_id: ADMIN_FROM.into(),
        admin_uri: "/gp/ram".into(),
    }
}

#[test]
fn trigger_matches_the_independent_vector_and_round_trips() {
    let t = trigger();
    let bytes = t.to_bytes().unwrap();
    assert_eq!(hex::encode_upper(&bytes), TRIGGER_VECTOR);
    assert_eq!(bytes.len(), 246);
    assert_eq!(SessionTrigger::parse(&bytes).unwrap(), t);
}

#[test]
fn trigger_refusals() {
    let good = trigger().to_bytes().unwrap();
    // Wrapped in AA: not the bare 81 of the contract.
    let mut wrapped = vec![0xAA, 0x81, good.len() as u8];
    wrapped.extend_from_slice(&good);
    assert!(SessionTrigger::parse(&wrapped).is_err());
    // 02 <KVN> <key id> of 85 disagreeing with the identity.
    let mut other_kvn = good.clone();
    let at = hex::encode_upper(&good).find("024001").unwrap() / 2;
    other_kvn[at + 1] = 0x41;
    assert!(
        SessionTrigger::parse(&other_kvn)
            .unwrap_err()
            .to_string()
            .contains("differs")
    );
    // A timer byte that is not BCD.
    let mut bad_timer = good.clone();
    let at = hex::encode_upper(&good).find("2503000100").unwrap() / 2;
    bad_timer[at + 3] = 0x0A;
    assert!(SessionTrigger::parse(&bad_timer).is_err());
    // A timer value out of range cannot be encoded.
    let mut t = trigger();
    t.retry.timer = [0, 100, 0];
    assert!(t.to_bytes().is_err());
}
