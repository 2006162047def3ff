//! Simple types of the SGP.02 v3 web-services schema (`euicc.common.types.xsd`; SGP.02 §5.1 and Annex B) as
//! validated newtypes with `FromStr` (the accepted lexical forms) and `Display` (the canonical form we emit).
//!
//! Hex types accept upper and lower case and print upper case (the canonical form of `xs:hexBinary`).
//! Leading and trailing XML whitespace is removed before parsing non-string types (XSD `whiteSpace="collapse"`).

use std::fmt;
use std::str::FromStr;

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
use zeroize::Zeroizing;

/// A lexical value that does not match its simple type (XSD Part 2 §4.3 facets; SGP.02 v3 XSD patterns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {type_name}: {reason}")]
pub struct InvalidValue {
    /// The XSD type name, e.g. `EIDType`.
    pub type_name: &'static str,
    /// Why it does not match (never the value itself, which may be sensitive).
    pub reason: String,
}

impl InvalidValue {
    /// A new error for `type_name`.
    pub fn new(type_name: &'static str, reason: impl Into<String>) -> Self {
        InvalidValue {
            type_name,
            reason: reason.into(),
        }
    }
}

fn collapse(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Parses `xs:hexBinary` (XSD Part 2 §3.2.15): an even number of hex digits, either case.
pub fn parse_hex(type_name: &'static str, s: &str) -> Result<Vec<u8>, InvalidValue> {
    let s = collapse(s);
    if !s.len().is_multiple_of(2) {
        return Err(InvalidValue::new(type_name, "odd number of hex digits"));
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(InvalidValue::new(type_name, "not a hex digit string"));
    }
    hex::decode(s).map_err(|e| InvalidValue::new(type_name, e.to_string()))
}

fn hex_len(
    type_name: &'static str,
    s: &str,
    min: usize,
    max: usize,
) -> Result<Vec<u8>, InvalidValue> {
    let v = parse_hex(type_name, s)?;
    if v.len() < min || v.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(InvalidValue::new(
            type_name,
            format!("{} bytes, expected {want}", v.len()),
        ));
    }
    Ok(v)
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// eUICC identifier, `EIDType` (SGP.02 §2.2.2, hexBinary): 16 bytes, written as 32 hex digits.
///
/// The XSD allows any hexBinary up to 32 octets; every EID is 16 bytes (32 digits), so that is what we accept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eid([u8; 16]);

impl Eid {
    /// The EID from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Eid(bytes)
    }
    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl FromStr for Eid {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = hex_len("EIDType", s, 16, 16)?;
        let mut b = [0u8; 16];
        b.copy_from_slice(&v);
        Ok(Eid(b))
    }
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Eid({self})")
    }
}

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The value as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_newtype!(
    /// Integrated Circuit Card Identifier, `ICCIDType` (ITU-T E.118; pattern `89[0-9fF]{4,18}`).
    ///
    /// Kept as written except that a padding `f` is printed upper case.
    Iccid
);

impl FromStr for Iccid {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = collapse(s);
        let ok = s.len() >= 6
            && s.len() <= 20
            && s.starts_with("89")
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b == b'f' || b == b'F');
        if !ok {
            return Err(InvalidValue::new(
                "ICCIDType",
                "expected 89 followed by 4 to 18 digits or F",
            ));
        }
        Ok(Iccid(s.to_ascii_uppercase()))
    }
}

string_newtype!(
    /// Object identifier in dotted form, `ObjectIdentifierType` (pattern `([\d]+[.])*[\d]+`): entity ids
    /// (`Smsr-id`, `Mno-id`, `Eum-id`, …) and status code subjects/reasons.
    Oid
);

impl FromStr for Oid {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = collapse(s);
        if s.is_empty() || !s.split('.').all(|arc| !arc.is_empty() && all_digits(arc)) {
            return Err(InvalidValue::new(
                "ObjectIdentifierType",
                "expected dot-separated decimal numbers",
            ));
        }
        Ok(Oid(s.to_string()))
    }
}

string_newtype!(
    /// MSISDN, `MSISDNType` (ITU-T E.164; pattern `\d{3,15}`).
    Msisdn
);

impl FromStr for Msisdn {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = collapse(s);
        if !(3..=15).contains(&s.len()) || !all_digits(s) {
            return Err(InvalidValue::new(
                "MSISDNType",
                "expected 3 to 15 decimal digits",
            ));
        }
        Ok(Msisdn(s.to_string()))
    }
}

string_newtype!(
    /// IMSI, `IMSIType` (ITU-T E.212; pattern `\d{0,15}`).
    Imsi
);

impl FromStr for Imsi {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = collapse(s);
        if s.len() > 15 || !all_digits(s) {
            return Err(InvalidValue::new(
                "IMSIType",
                "expected up to 15 decimal digits",
            ));
        }
        Ok(Imsi(s.to_string()))
    }
}

string_newtype!(
    /// A version `major.minor.revision`, `ThreeDigitVersion` (pattern `\d+[.]\d+[.]\d+`).
    ThreeDigitVersion
);

impl FromStr for ThreeDigitVersion {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = collapse(s);
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 || !parts.iter().all(|p| !p.is_empty() && all_digits(p)) {
            return Err(InvalidValue::new(
                "ThreeDigitVersion",
                "expected three dot-separated numbers",
            ));
        }
        Ok(ThreeDigitVersion(s.to_string()))
    }
}

string_newtype!(
    /// A string of at most 100 characters, `String100` (e.g. `PlatformType`, `ProfileType` in the EIS).
    String100
);

impl FromStr for String100 {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.chars().count() > 100 {
            return Err(InvalidValue::new("String100", "longer than 100 characters"));
        }
        Ok(String100(s.to_string()))
    }
}

macro_rules! bytes_newtype {
    ($(#[$m:meta])* $name:ident, $xsd:literal, $min:expr, $max:expr) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// The value from bytes, checking the length facet.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidValue> {
                if !($min..=$max).contains(&bytes.len()) {
                    return Err(InvalidValue::new(
                        $xsd,
                        format!("{} bytes, expected {} to {}", bytes.len(), $min, $max),
                    ));
                }
                Ok($name(bytes.to_vec()))
            }
            /// The bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(hex_len($xsd, s, $min, $max)?))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode_upper(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

bytes_newtype!(
    /// Application identifier, `AIDType` (ISO/IEC 7816-4 §8.2.1.2; 5 to 16 bytes).
    Aid, "AIDType", 5, 16
);

impl Aid {
    /// The `Isd-p-aid` of a CreateISDP refused before any ISD-P was allocated
    /// ([`crate::wire_profile::CREATE_ISDP_REFUSED_AID`], SGP.02 §5.4.1) [P].
    pub fn create_isdp_refused() -> Aid {
        Aid(crate::wire_profile::CREATE_ISDP_REFUSED_AID.to_vec())
    }

    /// The default TAR of a security domain: AID bytes 13 to 15 (ETSI TS 101 220 §6.1; SGP.02 §5.1.1.3.5),
    /// `None` for an AID shorter than 15 bytes.
    pub fn default_tar(&self) -> Option<Tar> {
        let b = self.0.get(12..15)?;
        Some(Tar([b[0], b[1], b[2]]))
    }
}

bytes_newtype!(
    /// Arbitrary binary data, `xs:hexBinary` (e.g. `Data`, `EuiccResponseData`, `Imei`).
    HexBinary, "hexBinary", 0, usize::MAX
);

impl HexBinary {
    /// No bytes: a mandatory hexBinary element with nothing to carry (e.g. ES7 `DerivationRandom`, wire-profile
    /// §5b step 3, or the `RandomChallenge` of a FAILED response).
    pub fn empty() -> HexBinary {
        HexBinary(Vec::new())
    }
}

bytes_newtype!(
    /// Binary data of at most 16 bytes, `hexBinary16` (security domain `Sin`, `Sdin`).
    HexBinary16, "hexBinary16", 0, 16
);

/// Toolkit application reference, `TARType` (ETSI TS 101 220 §6.1; exactly 3 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tar(pub [u8; 3]);

impl FromStr for Tar {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = hex_len("TARType", s, 3, 3)?;
        Ok(Tar([v[0], v[1], v[2]]))
    }
}

impl fmt::Display for Tar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Tar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tar({self})")
    }
}

/// The EIS audit-trail operation type (`AuditTrailRecordType/OperationType`, hexBinary length 2; SGP.02
/// §5.1.1.3.12), e.g. `0100` CreateISDP.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationType(pub [u8; 2]);

impl FromStr for OperationType {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = hex_len("OperationType", s, 2, 2)?;
        Ok(OperationType([v[0], v[1]]))
    }
}

impl fmt::Display for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperationType({self})")
    }
}

/// A key component value (`KeyComponents/@value`, hexBinary; GP Card Spec §11.8.2.3): secret, so it is
/// zeroised on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue(Zeroizing<Vec<u8>>);

impl KeyValue {
    /// Wraps key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        KeyValue(Zeroizing::new(bytes))
    }
    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for KeyValue {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(KeyValue(Zeroizing::new(parse_hex("hexBinary", s)?)))
    }
}

impl fmt::Display for KeyValue {
    /// The hex form, for the XML encoder only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Zeroizing::new(hex::encode_upper(&*self.0)))
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyValue([redacted])")
    }
}

macro_rules! ranged_int {
    ($(#[$m:meta])* $name:ident, $xsd:literal, $min:expr, $max:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(u8);

        impl $name {
            /// The value, checking the range.
            pub fn new(v: u8) -> Result<Self, InvalidValue> {
                if !($min..=$max).contains(&v) {
                    return Err(InvalidValue::new($xsd, format!("expected {} to {}", $min, $max)));
                }
                Ok($name(v))
            }
            /// The number.
            pub fn get(self) -> u8 {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let v: u8 = parse_xs_integer($xsd, s)?
                    .try_into()
                    .map_err(|_| InvalidValue::new($xsd, format!("expected {} to {}", $min, $max)))?;
                $name::new(v)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

ranged_int!(
    /// Key set version, `KeysetVersionType` (GP Card Spec §11.1.8 KVN; 1 to 127).
    KeysetVersion, "KeysetVersionType", 1, 127
);

ranged_int!(
    /// Key index within a key set, `KeyIndexType` (GP Card Spec §11.1.8; 0 to 127).
    KeyIndex, "KeyIndexType", 0, 127
);

/// Parses `xs:integer` lexically (XSD Part 2 §3.3.13: optional sign, decimal digits) into an `i128`.
pub fn parse_xs_integer(type_name: &'static str, s: &str) -> Result<i128, InvalidValue> {
    let s = collapse(s);
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !all_digits(digits) {
        return Err(InvalidValue::new(type_name, "expected a decimal integer"));
    }
    s.parse::<i128>()
        .map_err(|_| InvalidValue::new(type_name, "integer out of range"))
}

/// A key type coding byte, `KeyTypeCodingType` (GP Card Spec §11.1.8, e.g. `88` AES; hexBinary length 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyTypeCoding(pub u8);

impl FromStr for KeyTypeCoding {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(KeyTypeCoding(hex_len("KeyTypeCodingType", s, 1, 1)?[0]))
    }
}

impl fmt::Display for KeyTypeCoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}", self.0)
    }
}

impl fmt::Debug for KeyTypeCoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyTypeCoding({self})")
    }
}

/// A positive integer number of seconds, `xs:positiveInteger` (`ValidityPeriod`, `AcceptableValidityPeriod`;
/// SGP.02 §5.1 BaseRequestType).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PositiveInteger(u64);

impl PositiveInteger {
    /// The value, which must be at least 1.
    pub fn new(v: u64) -> Result<Self, InvalidValue> {
        if v == 0 {
            return Err(InvalidValue::new("positiveInteger", "must be at least 1"));
        }
        Ok(PositiveInteger(v))
    }
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for PositiveInteger {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = parse_xs_integer("positiveInteger", s)?;
        let v: u64 = v
            .try_into()
            .map_err(|_| InvalidValue::new("positiveInteger", "out of range"))?;
        PositiveInteger::new(v)
    }
}

impl fmt::Display for PositiveInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $xsd:literal, { $($(#[$vm:meta])* $variant:ident = $lex:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The lexical value as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $lex),+
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match collapse(s) {
                    $($lex => Ok($name::$variant),)+
                    _ => Err(InvalidValue::new(
                        $xsd,
                        concat!("expected one of:" $(, " ", $lex)+),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// ECC key length for ES7.CreateAdditionalKeySet, `ECCKeyLengthType` (GP Amendment E §4.5).
    EccKeyLength, "ECCKeyLengthType", {
        /// 256-bit curve.
        Ecc256 = "ECC-256",
        /// 384-bit curve.
        Ecc384 = "ECC-384",
        /// 512-bit curve.
        Ecc512 = "ECC-512",
        /// 521-bit curve.
        Ecc521 = "ECC-521",
    }
);

string_enum!(
    /// Profile state in the EIS, `ProfileStateType` (SGP.02 §5.1.1.3.6; a deleted profile is absent).
    ProfileState, "ProfileStateType", {
        /// ISD-P created, profile not (fully) installed.
        Created = "Created",
        /// Profile installed and disabled.
        Disabled = "Disabled",
        /// Profile enabled.
        Enabled = "Enabled",
    }
);

string_enum!(
    /// Subject of a POL2 rule, `POL2RuleSubjectType` (SGP.02 §2.4.5 POL2).
    Pol2RuleSubject, "POL2RuleSubjectType", {
        /// The rule applies to the profile.
        Profile = "PROFILE",
    }
);

string_enum!(
    /// Action of a POL2 rule, `POL2RuleActionType` (SGP.02 §2.4.5 POL2).
    Pol2RuleAction, "POL2RuleActionType", {
        /// Enabling the profile.
        Enable = "ENABLE",
        /// Disabling the profile.
        Disable = "DISABLE",
        /// Deleting the profile.
        Delete = "DELETE",
    }
);

string_enum!(
    /// Qualification of a POL2 rule, `POL2RuleQualificationType` (SGP.02 §2.4.5 POL2).
    Pol2RuleQualification, "POL2RuleQualificationType", {
        /// The action is not allowed.
        NotAllowed = "Not-Allowed",
        /// The profile is deleted automatically (e.g. when disabled).
        AutoDelete = "Auto-Delete",
    }
);

string_enum!(
    /// Role of a security domain in the EIS, `SDRoleType` (SGP.02 §5.1.1.3.5).
    SdRole, "SDRoleType", {
        /// Issuer Security Domain Root.
        IsdR = "ISD-R",
        /// eUICC Controlling Authority Security Domain.
        Ecasd = "ECASD",
    }
);

string_enum!(
    /// Usage of a key set, `KeysetUsageType` (SGP.02 §5.1.1.3.5).
    KeysetUsage, "KeysetUsageType", {
        /// SCP03 keys (ISD-R ES5/ES8 secure channel).
        Scp03 = "SCP03",
        /// SCP80 keys (OTA over SMS).
        Scp80 = "SCP80",
        /// SCP81 keys (PSK-TLS over HTTPS).
        Scp81 = "SCP81",
        /// Token generation keys.
        TokenGeneration = "TokenGeneration",
        /// Receipt verification keys.
        ReceiptVerification = "ReceiptVerification",
        /// Certification authority keys/certificates (ECASD).
        Ca = "CA",
    }
);

/// An `xs:dateTime` value (XSD Part 2 §3.2.7), with or without a time-zone offset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct XsDateTime {
    /// Date and time of day as written.
    pub local: PrimitiveDateTime,
    /// The offset if the lexical form had one (`Z` is +00:00).
    pub offset: Option<UtcOffset>,
}

impl XsDateTime {
    /// A UTC timestamp (printed with `Z`).
    pub fn utc(at: time::OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        XsDateTime {
            local: PrimitiveDateTime::new(at.date(), at.time()),
            offset: Some(UtcOffset::UTC),
        }
    }

    /// The instant, taking a value without offset as UTC (SGP.02 timestamps are UTC).
    pub fn to_offset_date_time(&self) -> time::OffsetDateTime {
        self.local
            .assume_offset(self.offset.unwrap_or(UtcOffset::UTC))
    }
}

fn num<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !all_digits(s) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for XsDateTime {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            InvalidValue::new(
                "dateTime",
                "expected YYYY-MM-DDThh:mm:ss[.fff][Z|(+|-)hh:mm]",
            )
        };
        let s = collapse(s);
        let (date, rest) = s.split_once('T').ok_or_else(bad)?;
        let mut d = date.split('-');
        let (y, m, dd) = (d.next(), d.next(), d.next());
        if d.next().is_some() {
            return Err(bad());
        }
        let (y, m, dd) = (y.ok_or_else(bad)?, m.ok_or_else(bad)?, dd.ok_or_else(bad)?);
        if y.len() != 4 || m.len() != 2 || dd.len() != 2 {
            return Err(bad());
        }
        let year: i32 = num(y).ok_or_else(bad)?;
        let month: u8 = num(m).ok_or_else(bad)?;
        let day: u8 = num(dd).ok_or_else(bad)?;
        let (time_part, offset) = if let Some(t) = rest.strip_suffix('Z') {
            (t, Some(UtcOffset::UTC))
        } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
            let (t, o) = rest.split_at(rest.len() - 6);
            let sign: i8 = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':').ok_or_else(bad)?;
            if oh.len() != 2 || om.len() != 2 {
                return Err(bad());
            }
            let oh: i8 = num(oh).ok_or_else(bad)?;
            let om: i8 = num(om).ok_or_else(bad)?;
            if oh > 14 || om > 59 {
                return Err(bad());
            }
            let off = UtcOffset::from_hms(sign * oh, sign * om, 0).map_err(|_| bad())?;
            (t, Some(off))
        } else {
            (rest, None)
        };
        let (hms, frac) = match time_part.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (time_part, None),
        };
        let mut t = hms.split(':');
        let (h, mi, se) = (t.next(), t.next(), t.next());
        if t.next().is_some() {
            return Err(bad());
        }
        let (h, mi, se) = (h.ok_or_else(bad)?, mi.ok_or_else(bad)?, se.ok_or_else(bad)?);
        if h.len() != 2 || mi.len() != 2 || se.len() != 2 {
            return Err(bad());
        }
        let hour: u8 = num(h).ok_or_else(bad)?;
        let minute: u8 = num(mi).ok_or_else(bad)?;
        let second: u8 = num(se).ok_or_else(bad)?;
        let nanos: u32 = match frac {
            None => 0,
            Some(f) => {
                if f.is_empty() || !all_digits(f) {
                    return Err(bad());
                }
                let mut digits: String = f.chars().take(9).collect();
                while digits.len() < 9 {
                    digits.push('0');
                }
                num(&digits).ok_or_else(bad)?
            }
        };
        let month = Month::try_from(month).map_err(|_| bad())?;
        let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
        let time = Time::from_hms_nano(hour, minute, second, nanos).map_err(|_| bad())?;
        Ok(XsDateTime {
            local: PrimitiveDateTime::new(date, time),
            offset,
        })
    }
}

impl fmt::Display for XsDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.local.date();
        let t = self.local.time();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        if t.nanosecond() != 0 {
            let frac = format!("{:09}", t.nanosecond());
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        match self.offset {
            None => Ok(()),
            Some(o) if o.is_utc() => f.write_str("Z"),
            Some(o) => {
                let (h, m, _) = o.as_hms();
                let sign = if o.is_negative() { '-' } else { '+' };
                write!(f, "{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
            }
        }
    }
}
