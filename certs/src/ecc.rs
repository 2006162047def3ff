//! ECDSA and ECKA on NIST P-256 and brainpoolP256r1 behind one curve-agnostic API.
//!
//! - ECDSA with SHA-256 (BSI TR-03111 §4.2.1; GP Amendment E §4): signatures as the 64-byte `r ‖ s` of the GP
//!   certificate tag `5F37`, or ASN.1 DER as in X.509 and XML-DSig 1.1 (`ecdsa-sha256` uses `r ‖ s`).
//! - ECKA / ECDH (BSI TR-03111 §4.3.1): the shared secret is the x-coordinate of `d · Q`.
//! - Curves by their GP key parameter reference (GP Amendment E Table 4-3; wire-profile §6): `00` NIST P-256,
//!   `03` brainpoolP256r1.
//!
//! Signing is deterministic (RFC 6979), so a seeded test world is byte-for-byte reproducible.

use std::fmt;

use ecdsa::signature::{Signer, Verifier};
use elliptic_curve::Generate;
use elliptic_curve::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use elliptic_curve::sec1::ToSec1Point;
use rand_core::CryptoRng;
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

/// An elliptic curve supported by SGP.02 key establishment (GP Amendment E Table 4-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1), key parameter reference `00`.
    P256,
    /// brainpoolP256r1 (RFC 5639), key parameter reference `03`.
    BrainpoolP256r1,
}

impl Curve {
    /// The GP key parameter reference of the curve (tag `F0`; GP Amendment E Table 4-3).
    pub const fn key_parameter_reference(self) -> u8 {
        match self {
            Curve::P256 => 0x00,
            Curve::BrainpoolP256r1 => 0x03,
        }
    }

    /// The curve of a GP key parameter reference (GP Amendment E Table 4-3); other curves are unsupported.
    pub fn from_key_parameter_reference(reference: u8) -> Result<Self, EcError> {
        match reference {
            0x00 => Ok(Curve::P256),
            0x03 => Ok(Curve::BrainpoolP256r1),
            other => Err(EcError::UnsupportedCurve(other)),
        }
    }

    /// The ASN.1 object identifier of the named curve (RFC 5480 §2.1.1.1; RFC 5639 §4.1).
    pub const fn oid(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.3.1.7",
            Curve::BrainpoolP256r1 => "1.3.36.3.3.2.8.1.1.7",
        }
    }

    /// The curve named by an ASN.1 object identifier in dotted form (RFC 5480 §2.1.1.1).
    pub fn from_oid(oid: &str) -> Option<Self> {
        [Curve::P256, Curve::BrainpoolP256r1]
            .into_iter()
            .find(|c| c.oid() == oid)
    }

    /// The curve's usual name, as in error messages and the world manifest.
    pub const fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::BrainpoolP256r1 => "brainpoolP256r1",
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the elliptic-curve primitives.
#[derive(Debug, thiserror::Error)]
pub enum EcError {
    /// A key parameter reference other than `00` (P-256) or `03` (brainpoolP256r1).
    #[error("unsupported curve: key parameter reference {0:#04x}")]
    UnsupportedCurve(u8),
    /// The bytes are not a point on the curve in SEC1 encoding.
    #[error("invalid {curve} public key: not a SEC1-encoded point on the curve")]
    InvalidPoint {
        /// The curve the point was decoded for.
        curve: Curve,
    },
    /// The private scalar is zero, too large, or not 32 bytes.
    #[error("invalid {curve} private key scalar")]
    InvalidScalar {
        /// The curve of the key.
        curve: Curve,
    },
    /// A signature that is not 64 bytes `r ‖ s` (or well-formed DER) with `0 < r, s < n`.
    #[error("malformed {curve} ECDSA signature ({encoding})")]
    MalformedSignature {
        /// The curve of the verifying key.
        curve: Curve,
        /// `r‖s` or `DER`.
        encoding: &'static str,
    },
    /// The signature does not verify with the public key.
    #[error("{curve} ECDSA signature does not verify")]
    BadSignature {
        /// The curve of the verifying key.
        curve: Curve,
    },
    /// Key agreement between keys on different curves.
    #[error("curve mismatch: private key on {private}, public key on {public}")]
    CurveMismatch {
        /// The private key's curve.
        private: Curve,
        /// The public key's curve.
        public: Curve,
    },
    /// A PKCS#8 private key that cannot be read or written (the message never holds key bytes).
    #[error("PKCS#8 private key: {0}")]
    Pkcs8(String),
}

/// An elliptic-curve public key; always a valid point, kept in SEC1 uncompressed form `04 ‖ X ‖ Y`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    curve: Curve,
    point: [u8; 65],
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.curve,
            hex::encode_upper(self.point)
        )
    }
}

macro_rules! with_curve {
    ($curve:expr, $C:ident => $body:expr) => {
        match $curve {
            Curve::P256 => {
                type $C = p256::NistP256;
                $body
            }
            Curve::BrainpoolP256r1 => {
                type $C = bp256::BrainpoolP256r1;
                $body
            }
        }
    };
}

impl PublicKey {
    /// Decodes a SEC1 point (uncompressed `04 ‖ X ‖ Y`, or compressed) and checks that it lies on the curve
    /// (SEC 1 §2.3.4; the `B0` value of GP tag `7F49`).
    pub fn from_sec1(curve: Curve, bytes: &[u8]) -> Result<Self, EcError> {
        let point = with_curve!(curve, C => {
            let pk = elliptic_curve::PublicKey::<C>::from_sec1_bytes(bytes)
                .map_err(|_| EcError::InvalidPoint { curve })?;
            pk.to_sec1_point(false)
        });
        let mut out = [0u8; 65];
        let bytes = point.as_bytes();
        if bytes.len() != 65 {
            return Err(EcError::InvalidPoint { curve });
        }
        out.copy_from_slice(bytes);
        Ok(PublicKey { curve, point: out })
    }

    /// The curve of the key.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The SEC1 uncompressed encoding `04 ‖ X ‖ Y` (SEC 1 §2.3.3).
    pub fn to_sec1_uncompressed(&self) -> [u8; 65] {
        self.point
    }

    /// The SEC1 uncompressed encoding as a slice (SEC 1 §2.3.3).
    pub fn as_sec1_uncompressed(&self) -> &[u8] {
        &self.point
    }

    /// Key identifier: SHA-1 of the SEC1 point, method (1) of RFC 5280 §4.2.1.2; used as X.509
    /// SubjectKeyIdentifier and as the GP certificate CA identifier (`42`) and AKI (`C9`).
    pub fn key_identifier(&self) -> [u8; 20] {
        Sha1::digest(self.point).into()
    }

    /// Verifies an ECDSA-SHA256 signature in `r ‖ s` form (64 bytes) over `msg` (BSI TR-03111 §4.2.1.2).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), EcError> {
        let curve = self.curve;
        with_curve!(curve, C => {
            let vk = ecdsa::VerifyingKey::<C>::from_sec1_bytes(&self.point)
                .map_err(|_| EcError::InvalidPoint { curve })?;
            let sig = ecdsa::Signature::<C>::from_slice(signature)
                .map_err(|_| EcError::MalformedSignature { curve, encoding: "r‖s" })?;
            vk.verify(msg, &sig).map_err(|_| EcError::BadSignature { curve })
        })
    }

    /// Verifies an ECDSA-SHA256 signature in ASN.1 DER form (RFC 5480 §2.2 / RFC 3279 Ecdsa-Sig-Value).
    pub fn verify_der(&self, msg: &[u8], der: &[u8]) -> Result<(), EcError> {
        let curve = self.curve;
        with_curve!(curve, C => {
            let sig = ecdsa::Signature::<C>::from_der(der)
                .map_err(|_| EcError::MalformedSignature { curve, encoding: "DER" })?;
            self.verify(msg, &sig.to_bytes())
        })
    }
}

enum Scalar {
    P256(p256::SecretKey),
    Bp256(elliptic_curve::SecretKey<bp256::BrainpoolP256r1>),
}

/// An elliptic-curve private key. The scalar zeroizes on drop and never appears in Debug output.
pub struct PrivateKey {
    scalar: Scalar,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("curve", &self.public.curve)
            .field("public", &self.public)
            .field("scalar", &"[redacted]")
            .finish()
    }
}

/// The x-coordinate shared secret of ECKA (BSI TR-03111 §4.3.1, "ShS"); zeroizes on drop.
pub struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    /// The 32 bytes of the x-coordinate.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

impl PrivateKey {
    /// Generates a fresh key pair on `curve` (BSI TR-03111 §4.1.1 key generation).
    pub fn generate<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        let scalar = match curve {
            Curve::P256 => Scalar::P256(<p256::SecretKey as Generate>::generate_from_rng(rng)),
            Curve::BrainpoolP256r1 => Scalar::Bp256(<elliptic_curve::SecretKey<
                bp256::BrainpoolP256r1,
            > as Generate>::generate_from_rng(
                rng
            )),
        };
        Self::from_inner(scalar)
    }

    fn from_inner(scalar: Scalar) -> Self {
        let (curve, point) = match &scalar {
            Scalar::P256(sk) => (Curve::P256, sk.public_key().to_sec1_point(false)),
            Scalar::Bp256(sk) => (Curve::BrainpoolP256r1, sk.public_key().to_sec1_point(false)),
        };
        let mut out = [0u8; 65];
        out.copy_from_slice(point.as_bytes());
        PrivateKey {
            scalar,
            public: PublicKey { curve, point: out },
        }
    }

    /// A key from its 32-byte big-endian private scalar `d` (SEC 1 §2.3.6), `0 < d < n`.
    pub fn from_scalar(curve: Curve, bytes: &[u8]) -> Result<Self, EcError> {
        if bytes.len() != 32 {
            return Err(EcError::InvalidScalar { curve });
        }
        let scalar = match curve {
            Curve::P256 => Scalar::P256(
                p256::SecretKey::from_slice(bytes).map_err(|_| EcError::InvalidScalar { curve })?,
            ),
            Curve::BrainpoolP256r1 => Scalar::Bp256(
                <elliptic_curve::SecretKey<bp256::BrainpoolP256r1>>::from_slice(bytes)
                    .map_err(|_| EcError::InvalidScalar { curve })?,
            ),
        };
        Ok(Self::from_inner(scalar))
    }

    /// The 32-byte big-endian private scalar (SEC 1 §2.3.6), for storage under a master key or in a 0600 file.
    pub fn to_scalar(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.scalar {
            Scalar::P256(sk) => out.copy_from_slice(&sk.to_bytes()),
            Scalar::Bp256(sk) => out.copy_from_slice(&sk.to_bytes()),
        }
        out
    }

    /// The curve of the key.
    pub fn curve(&self) -> Curve {
        self.public.curve
    }

    /// The public key `Q = d · G`.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// ECDSA-SHA256 signature in `r ‖ s` form, 64 bytes (BSI TR-03111 §4.2.1.1; RFC 6979 nonces).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        match &self.scalar {
            Scalar::P256(sk) => {
                let sig: ecdsa::Signature<p256::NistP256> =
                    ecdsa::SigningKey::<p256::NistP256>::from(sk).sign(msg);
                out.copy_from_slice(&sig.to_bytes());
            }
            Scalar::Bp256(sk) => {
                let sig: ecdsa::Signature<bp256::BrainpoolP256r1> =
                    ecdsa::SigningKey::<bp256::BrainpoolP256r1>::from(sk).sign(msg);
                out.copy_from_slice(&sig.to_bytes());
            }
        }
        out
    }

    /// ECDSA-SHA256 signature in ASN.1 DER form (RFC 3279 Ecdsa-Sig-Value), as X.509 uses.
    pub fn sign_der(&self, msg: &[u8]) -> Vec<u8> {
        match &self.scalar {
            Scalar::P256(sk) => {
                let sig: ecdsa::der::Signature<p256::NistP256> =
                    ecdsa::SigningKey::<p256::NistP256>::from(sk).sign(msg);
                sig.as_bytes().to_vec()
            }
            Scalar::Bp256(sk) => {
                let sig: ecdsa::der::Signature<bp256::BrainpoolP256r1> =
                    ecdsa::SigningKey::<bp256::BrainpoolP256r1>::from(sk).sign(msg);
                sig.as_bytes().to_vec()
            }
        }
    }

    /// ECKA (BSI TR-03111 §4.3.1): the x-coordinate of `d · Q_peer`.
    pub fn ecka(&self, peer: &PublicKey) -> Result<SharedSecret, EcError> {
        if peer.curve != self.curve() {
            return Err(EcError::CurveMismatch {
                private: self.curve(),
                public: peer.curve,
            });
        }
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.scalar {
            Scalar::P256(sk) => {
                let pk = p256::PublicKey::from_sec1_bytes(&peer.point)
                    .map_err(|_| EcError::InvalidPoint { curve: peer.curve })?;
                let shs = sk.diffie_hellman(&pk);
                out.copy_from_slice(shs.raw_secret_bytes());
            }
            Scalar::Bp256(sk) => {
                let pk = elliptic_curve::PublicKey::<bp256::BrainpoolP256r1>::from_sec1_bytes(
                    &peer.point,
                )
                .map_err(|_| EcError::InvalidPoint { curve: peer.curve })?;
                let shs =
                    elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                out.copy_from_slice(shs.raw_secret_bytes());
            }
        }
        Ok(SharedSecret(out))
    }

    /// The key as an unencrypted PKCS#8 PEM document (RFC 5958 / RFC 7468 "PRIVATE KEY"), zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, EcError> {
        match &self.scalar {
            Scalar::P256(sk) => sk.to_pkcs8_pem(LineEnding::LF),
            Scalar::Bp256(sk) => sk.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| EcError::Pkcs8(e.to_string()))
    }

    /// Reads an unencrypted PKCS#8 PEM private key on P-256 or brainpoolP256r1 (RFC 5958).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, EcError> {
        if let Ok(sk) = p256::SecretKey::from_pkcs8_pem(pem) {
            return Ok(Self::from_inner(Scalar::P256(sk)));
        }
        <elliptic_curve::SecretKey<bp256::BrainpoolP256r1>>::from_pkcs8_pem(pem)
            .map(|sk| Self::from_inner(Scalar::Bp256(sk)))
            .map_err(|_| EcError::Pkcs8("not a PKCS#8 P-256 or brainpoolP256r1 private key".into()))
    }

    /// The key as unencrypted PKCS#8 DER (RFC 5958), zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, EcError> {
        let doc = match &self.scalar {
            Scalar::P256(sk) => sk.to_pkcs8_der(),
            Scalar::Bp256(sk) => sk.to_pkcs8_der(),
        }
        .map_err(|e| EcError::Pkcs8(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }
}
