//! Randomness, in one place: secrets (webhook tokens) from the operating system's
//! generator through `getrandom`, and cheap numbers for nonces and backoff jitter.

/// `bytes` random bytes from the operating system, as lowercase hex: a secret.
pub(crate) fn secret_hex(bytes: usize) -> std::io::Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| {
        std::io::Error::other(format!(
            "the operating system's random number generator failed: {e}"
        ))
    })?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

/// 64 random bits for a one-time nonce (not a secret).
pub(crate) fn nonce() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        // RandomState is seeded from the OS's randomness too, once per process.
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now())
    })
}

/// A number in `[0, 1)`, for backoff jitter.
pub(crate) fn unit() -> f64 {
    (nonce() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_hex_of_the_length_asked_and_differ() {
        let a = super::secret_hex(16).unwrap();
        let b = super::secret_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn unit_numbers_are_in_the_unit_interval_and_vary() {
        let samples: Vec<f64> = (0..100).map(|_| super::unit()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(samples.iter().any(|j| *j != samples[0]));
    }
}
