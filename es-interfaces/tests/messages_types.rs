//! The simple types of the SGP.02 v3 schema: accepted lexical forms, canonical output, and refusals.

use es_interfaces::status::{Reason, Status, Subject};
use es_interfaces::types::*;

fn ok<T: std::str::FromStr + ToString>(input: &str, canonical: &str)
where
    T::Err: std::fmt::Debug,
{
    let v: T = input.parse().unwrap_or_else(|e| panic!("{input}: {e:?}"));
    assert_eq!(v.to_string(), canonical, "{input}");
    let again: T = canonical.parse().unwrap();
    assert_eq!(again.to_string(), canonical);
}

fn bad<T: std::str::FromStr<Err = InvalidValue>>(input: &str, type_name: &str) {
    match input.parse::<T>() {
        Ok(_) => panic!("{input:?} accepted as {type_name}"),
        Err(e) => assert_eq!(e.type_name, type_name, "{input}"),
    }
}

#[test]
fn eid() {
    ok::<Eid>(
        "89049032123451234512345678901235",
        "89049032123451234512345678901235",
    );
    ok::<Eid>(
        " 89049032abcdef34512345678901235a\n",
        "89049032ABCDEF34512345678901235A",
    );
    for b in [
        "",
        "8904903212345123451234567890123",
        "890490321234512345123456789012",
        "89049032123451234512345678901235FF",
        "8904903212345123451234567890123Z",
    ] {
        bad::<Eid>(b, "EIDType");
    }
}

#[test]
fn iccid() {
    ok::<Iccid>("8944110012345678901", "8944110012345678901");
    ok::<Iccid>("894411001234567891f", "894411001234567891F");
    ok::<Iccid>("891234", "891234");
    ok::<Iccid>("89123456789012345678", "89123456789012345678");
    for b in [
        "89123",
        "881234567890",
        "891234567890123456789",
        "89 1234567",
        "8912345678A",
    ] {
        bad::<Iccid>(b, "ICCIDType");
    }
}

#[test]
fn oid_msisdn_imsi_version_string100() {
    ok::<Oid>("1.3.6.1.4.1.31746", "1.3.6.1.4.1.31746");
    ok::<Oid>("5", "5");
    for b in ["", "1..2", ".1", "1.", "1.a", "1,2"] {
        bad::<Oid>(b, "ObjectIdentifierType");
    }
    ok::<Msisdn>("447700900123", "447700900123");
    bad::<Msisdn>("44", "MSISDNType");
    bad::<Msisdn>("+447700900123", "MSISDNType");
    bad::<Msisdn>("4477009001234567", "MSISDNType");
    ok::<Imsi>("", "");
    ok::<Imsi>("234150123456789", "234150123456789");
    bad::<Imsi>("2341501234567890", "IMSIType");
    ok::<ThreeDigitVersion>("3.2.0", "3.2.0");
    for b in ["3.2", "3.2.0.1", "3..0", "a.b.c"] {
        bad::<ThreeDigitVersion>(b, "ThreeDigitVersion");
    }
    ok::<String100>(&"é".repeat(100), &"é".repeat(100));
    bad::<String100>(&"x".repeat(101), "String100");
}

#[test]
fn binary_types() {
    ok::<Aid>(
        "a0000005591010ffffffff8900000100",
        "A0000005591010FFFFFFFF8900000100",
    );
    bad::<Aid>("A0000005", "AIDType");
    ok::<Aid>("A000000559", "A000000559");
    bad::<Aid>("A0000005591010FFFFFFFF890000010000", "AIDType");
    let aid: Aid = "A0000005591010FFFFFFFF8900001000".parse().unwrap();
    assert_eq!(aid.default_tar().unwrap().to_string(), "000010");
    ok::<Tar>("b00001", "B00001");
    bad::<Tar>("B0000102", "TARType");
    ok::<HexBinary>("", "");
    bad::<HexBinary>("ABC", "hexBinary");
    ok::<HexBinary16>(
        "00112233445566778899AABBCCDDEEFF",
        "00112233445566778899AABBCCDDEEFF",
    );
    bad::<HexBinary16>("00112233445566778899AABBCCDDEEFF00", "hexBinary16");
    ok::<KeyTypeCoding>("88", "88");
    bad::<KeyTypeCoding>("8880", "KeyTypeCodingType");
    ok::<OperationType>("0100", "0100");
    bad::<OperationType>("01", "OperationType");
}

#[test]
fn integers_and_enums() {
    ok::<KeysetVersion>("1", "1");
    ok::<KeysetVersion>("+127", "127");
    bad::<KeysetVersion>("0", "KeysetVersionType");
    bad::<KeysetVersion>("128", "KeysetVersionType");
    ok::<KeyIndex>("0", "0");
    bad::<KeyIndex>("-1", "KeyIndexType");
    ok::<PositiveInteger>("86400", "86400");
    bad::<PositiveInteger>("0", "positiveInteger");
    bad::<PositiveInteger>("1.5", "positiveInteger");
    ok::<ProfileState>("Enabled", "Enabled");
    bad::<ProfileState>("enabled", "ProfileStateType");
    ok::<Pol2RuleQualification>("Auto-Delete", "Auto-Delete");
    ok::<EccKeyLength>("ECC-521", "ECC-521");
    ok::<SdRole>("ISD-R", "ISD-R");
    ok::<KeysetUsage>("TokenGeneration", "TokenGeneration");
    ok::<Status>("EXECUTED_WITHWARNING", "EXECUTED_WITHWARNING");
    bad::<Status>("Executed-Success", "StatusType");
}

#[test]
fn date_times() {
    ok::<XsDateTime>("2025-01-15T10:00:00Z", "2025-01-15T10:00:00Z");
    ok::<XsDateTime>("2025-01-15T10:00:00+00:00", "2025-01-15T10:00:00Z");
    ok::<XsDateTime>("2025-01-15T10:00:00.500000Z", "2025-01-15T10:00:00.5Z");
    ok::<XsDateTime>("2025-01-15T10:00:00-05:30", "2025-01-15T10:00:00-05:30");
    ok::<XsDateTime>("2025-01-15T10:00:00", "2025-01-15T10:00:00");
    ok::<XsDateTime>(
        "2024-02-29T23:59:59.123456789Z",
        "2024-02-29T23:59:59.123456789Z",
    );
    for b in [
        "2025-01-15",
        "2025-01-15 10:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-01-15T25:00:00Z",
        "2025-01-15T10:00Z",
        "2025-01-15T10:00:00.Z",
        "2025-01-15T10:00:00+15:00",
    ] {
        bad::<XsDateTime>(b, "dateTime");
    }
    let t: XsDateTime = "2025-01-15T10:00:00+01:00".parse().unwrap();
    assert_eq!(t.to_offset_date_time().unix_timestamp(), 1_736_931_600);
}

#[test]
fn status_codes() {
    assert_eq!(Subject::EID.code(), "8.1.1");
    assert_eq!(Subject::EID.label(), Some("EID"));
    assert_eq!(Reason::UNKNOWN.code(), "3.9");
    assert_eq!(Reason::INVALID.code(), "2.1");
    assert_eq!(Reason::MANDATORY_ELEMENT_MISSING.code(), "2.2");
    let r: Reason = "9.9.9".parse().unwrap();
    assert_eq!((r.code(), r.label()), ("9.9.9", None));
    assert!("Unknown EID".parse::<Subject>().is_err());
    assert_eq!(format!("{:?}", Subject::SM_SR), "Subject(8.7 SM-SR)");
}
