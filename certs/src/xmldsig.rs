//! The EUM signature of an EIS (SGP.02 §5.1.1 ES1.RegisterEIS, GSMA `EISType/EumSignature` of type
//! `ds:SignatureType`): an XML-DSig 1.1 signature by the EUM over the `EumSignedInfo` element.
//!
//! # Reference scheme (provisional project decision; SGP.02's annex on the EIS signature is not available)
//!
//! The GSMA XSD gives `EumSignedInfo` no `Id` attribute, so the signature cannot point at it with `URI="#id"`
//! without making the EIS invalid. The signature is therefore *detached* and names the element with a fixed
//! URN, which the verifier dereferences to the `EumSignedInfo` element of the same EIS:
//!
//! ```xml
//! <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
//!   <ds:SignedInfo>
//!     <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
//!     <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
//!     <ds:Reference URI="urn:x-sgp02:eis:EumSignedInfo">
//!       <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
//!       <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
//!       <ds:DigestValue>base64(SHA-256(exc-c14n(EumSignedInfo)))</ds:DigestValue>
//!     </ds:Reference>
//!   </ds:SignedInfo>
//!   <ds:SignatureValue>base64(r ‖ s)</ds:SignatureValue>
//!   <ds:KeyInfo><ds:X509Data><ds:X509Certificate>base64(EUM certificate DER)</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
//! </ds:Signature>
//! ```
//!
//! An independent verifier (Python signxml) accepts it with `uri_resolver` mapping the URN to the element. The
//! verifier here also accepts a Reference *without* a URI attribute (XML-DSig §4.4.3.1: "the receiving
//! application is expected to know the identity of the object"), which is how the one public SGP.02
//! implementation (Njiwa) dereferences `EumSignature`. In the EIS the same children sit in `rps:EumSignature`
//! instead of `ds:Signature` ([`signature_content`] gives them); exclusive canonicalization makes the
//! signature independent of that outer element. See certs/EIS-SIGNATURE.md.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::c14n::{self, Element, XmlError};
use crate::ecc::PrivateKey;
use crate::x509::X509Certificate;

/// The XML-DSig namespace (XML-DSig 1.1 §4).
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive canonicalization without comments (xml-exc-c14n).
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// ECDSA with SHA-256 (RFC 6931 §2.3.6; XML-DSig 1.1 §6.4.3: value is `r ‖ s`).
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
/// SHA-256 digest (XML Encryption §5.7.2).
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// The URN the Reference uses for the `EumSignedInfo` element (project decision, see the module doc).
pub const EUM_SIGNED_INFO_URI: &str = "urn:x-sgp02:eis:EumSignedInfo";
/// Local name of the signed element (GSMA `EISType`).
pub const EUM_SIGNED_INFO: &str = "EumSignedInfo";

/// Why an EIS signature cannot be made or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The named document is not well-formed XML of the handled subset.
    #[error("{document}: {source}")]
    Xml {
        /// `EumSignedInfo` or `signature`.
        document: &'static str,
        /// The parser error.
        source: XmlError,
    },
    /// The signed document's root is not `EumSignedInfo`.
    #[error("the signed element is {found}, not EumSignedInfo")]
    NotEumSignedInfo {
        /// The root element found.
        found: String,
    },
    /// The signature or one of its required parts is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An algorithm, transform or structure other than the one this profile uses.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// Which part.
        what: &'static str,
        /// What was found.
        value: String,
    },
    /// Base64 that does not decode, or a SignatureValue that is not 64 bytes.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The digest of the canonical `EumSignedInfo` differs from `DigestValue`: the EIS was changed.
    #[error("EumSignedInfo digest mismatch: the signed EIS content was altered")]
    DigestMismatch,
    /// The SignatureValue does not verify with the EUM certificate's key.
    #[error("EUM signature does not verify with the registered EUM certificate's key")]
    BadSignature,
    /// KeyInfo carries a certificate other than the registered EUM certificate.
    #[error("KeyInfo carries a certificate other than the registered EUM certificate")]
    CertificateMismatch,
    /// The signing key is not the key of the given EUM certificate.
    #[error("the signing key does not belong to the EUM certificate {subject}")]
    KeyMismatch {
        /// Subject of the certificate.
        subject: String,
    },
}

fn parse_doc(document: &'static str, xml: &str) -> Result<Element, SignatureError> {
    c14n::parse(xml).map_err(|source| SignatureError::Xml { document, source })
}

fn eum_signed_info_digest(xml: &str) -> Result<[u8; 32], SignatureError> {
    let root = parse_doc("EumSignedInfo", xml)?;
    if root.local != EUM_SIGNED_INFO {
        return Err(SignatureError::NotEumSignedInfo {
            found: root.local.clone(),
        });
    }
    Ok(Sha256::digest(root.canonicalize().as_bytes()).into())
}

/// Signs a standalone `EumSignedInfo` element (its source text with its in-scope namespace declarations on the
/// start tag) with the EUM key; returns the `ds:Signature` element as XML text (scheme in the module doc).
pub fn sign_eum_signed_info(
    standalone_eum_signed_info_xml: &str,
    eum_key: &PrivateKey,
    eum_cert: &X509Certificate,
) -> Result<String, SignatureError> {
    if eum_key.public_key() != eum_cert.public_key() {
        return Err(SignatureError::KeyMismatch {
            subject: eum_cert.subject().to_string(),
        });
    }
    let digest = eum_signed_info_digest(standalone_eum_signed_info_xml)?;
    let signed_info = format!(
        "<ds:SignedInfo xmlns:ds=\"{DSIG_NS}\">\
         <ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></ds:CanonicalizationMethod>\
         <ds:SignatureMethod Algorithm=\"{ECDSA_SHA256}\"></ds:SignatureMethod>\
         <ds:Reference URI=\"{EUM_SIGNED_INFO_URI}\">\
         <ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"></ds:DigestMethod>\
         <ds:DigestValue>{}</ds:DigestValue>\
         </ds:Reference></ds:SignedInfo>",
        STANDARD.encode(digest)
    );
    let canonical = parse_doc("signature", &signed_info)?.canonicalize();
    let signature_value = STANDARD.encode(eum_key.sign(canonical.as_bytes()));
    let inner = canonical
        .strip_prefix(&format!("<ds:SignedInfo xmlns:ds=\"{DSIG_NS}\">"))
        .ok_or(SignatureError::Malformed("generated SignedInfo"))?;
    Ok(format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\"><ds:SignedInfo>{inner}\
         <ds:SignatureValue>{signature_value}</ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
         </ds:Signature>",
        STANDARD.encode(eum_cert.der())
    ))
}

/// The children of a signature element (SignedInfo, SignatureValue, KeyInfo), each standalone with its
/// `xmlns:ds` declaration, to place inside the EIS's `rps:EumSignature` element (GSMA `EISType`).
pub fn signature_content(signature_xml: &str) -> Result<String, SignatureError> {
    let root = parse_doc("signature", signature_xml)?;
    Ok(root.child_elements().map(Element::canonicalize).collect())
}

fn ds_child<'a>(e: &'a Element, local: &'static str) -> Result<&'a Element, SignatureError> {
    e.child(DSIG_NS, local)
        .ok_or(SignatureError::Missing(local))
}

fn algorithm(e: &Element, what: &'static str, want: &str) -> Result<(), SignatureError> {
    let alg = e.attribute("Algorithm").unwrap_or_default();
    if alg != want {
        return Err(SignatureError::Unsupported {
            what,
            value: alg.to_string(),
        });
    }
    if e.child_elements().next().is_some() || e.has_text() {
        return Err(SignatureError::Unsupported {
            what,
            value: format!("{alg} with parameters"),
        });
    }
    Ok(())
}

fn b64(text: &str, what: &'static str) -> Result<Vec<u8>, SignatureError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| SignatureError::Malformed(what))
}

/// Verifies the EUM signature over a standalone `EumSignedInfo` element with the registered EUM certificate
/// (scheme in the module doc). `signature_xml` is the standalone `ds:Signature` or `rps:EumSignature` element;
/// a certificate in KeyInfo must be the registered one. The caller checks the EUM certificate's chain to the CI
/// (see `chain::check_eum`).
pub fn verify_eum_signature(
    standalone_eum_signed_info_xml: &str,
    signature_xml: &str,
    eum_cert: &X509Certificate,
) -> Result<(), SignatureError> {
    if signature_xml.trim().is_empty() {
        return Err(SignatureError::Missing("signature"));
    }
    let sig = parse_doc("signature", signature_xml)?;
    let parts: Vec<&Element> = sig.child_elements().collect();
    if let Some(other) = parts.iter().find(|e| {
        e.namespace.as_deref() != Some(DSIG_NS)
            || !matches!(
                e.local.as_str(),
                "SignedInfo" | "SignatureValue" | "KeyInfo"
            )
    }) {
        return Err(SignatureError::Unsupported {
            what: "signature child",
            value: other.local.clone(),
        });
    }
    let signed_info = ds_child(&sig, "SignedInfo")?;
    let signature_value = ds_child(&sig, "SignatureValue")?;
    algorithm(
        ds_child(signed_info, "CanonicalizationMethod")?,
        "CanonicalizationMethod",
        EXC_C14N,
    )?;
    algorithm(
        ds_child(signed_info, "SignatureMethod")?,
        "SignatureMethod",
        ECDSA_SHA256,
    )?;
    let references: Vec<&Element> = signed_info
        .child_elements()
        .filter(|e| e.namespace.as_deref() == Some(DSIG_NS) && e.local == "Reference")
        .collect();
    let reference = match references.as_slice() {
        [r] => *r,
        [] => return Err(SignatureError::Missing("Reference")),
        _ => {
            return Err(SignatureError::Unsupported {
                what: "Reference count",
                value: references.len().to_string(),
            });
        }
    };
    match reference.attribute("URI") {
        None => {}
        Some(uri) if uri == EUM_SIGNED_INFO_URI => {}
        Some(uri) => {
            return Err(SignatureError::Unsupported {
                what: "Reference URI",
                value: uri.to_string(),
            });
        }
    }
    let transforms: Vec<&Element> = ds_child(reference, "Transforms")?
        .child_elements()
        .collect();
    match transforms.as_slice() {
        [t] if t.namespace.as_deref() == Some(DSIG_NS) && t.local == "Transform" => {
            algorithm(t, "Transform", EXC_C14N)?
        }
        _ => {
            return Err(SignatureError::Unsupported {
                what: "Transforms",
                value: format!("{} transforms", transforms.len()),
            });
        }
    }
    algorithm(ds_child(reference, "DigestMethod")?, "DigestMethod", SHA256)?;
    let digest_value = b64(&ds_child(reference, "DigestValue")?.text(), "DigestValue")?;
    if let Some(key_info) = sig.child(DSIG_NS, "KeyInfo") {
        for data in key_info
            .child_elements()
            .filter(|e| e.namespace.as_deref() == Some(DSIG_NS) && e.local == "X509Data")
        {
            for cert in data
                .child_elements()
                .filter(|e| e.namespace.as_deref() == Some(DSIG_NS) && e.local == "X509Certificate")
            {
                if b64(&cert.text(), "X509Certificate")? != eum_cert.der() {
                    return Err(SignatureError::CertificateMismatch);
                }
            }
        }
    }
    let digest = eum_signed_info_digest(standalone_eum_signed_info_xml)?;
    if digest_value != digest {
        return Err(SignatureError::DigestMismatch);
    }
    let value = b64(&signature_value.text(), "SignatureValue")?;
    if value.len() != 64 {
        return Err(SignatureError::Malformed(
            "SignatureValue (not 64 bytes r‖s)",
        ));
    }
    eum_cert
        .public_key()
        .verify(signed_info.canonicalize().as_bytes(), &value)
        .map_err(|_| SignatureError::BadSignature)
}
