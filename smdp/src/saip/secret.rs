//! Secret byte strings (K, OPc, PIN, PUK, ADM, OTA keys): zeroized on drop, never printed (DESIGN §6).

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret octets (a key, a PIN value…) that are zeroized on drop and whose `Debug` prints `[redacted]`
/// (project rule, DESIGN §6 "Secrets").
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps the octets.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// Copies the octets.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(bytes.to_vec())
    }

    /// The octets; the caller must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The number of octets (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no octets.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::from_slice(b"12345678");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), b"12345678");
    }
}
