//! NATS subject matching (`*` one token, `>` the rest) for the in-process transport.

/// Whether `subject` (no wildcards) matches `pattern`.
pub(crate) fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(matches("a.*.c", "a.x.c"));
        assert!(!matches("a.*", "a.x.c"));
        assert!(matches("a.>", "a.x.c"));
        assert!(!matches("a.>", "a"));
        assert!(!matches("a.b.c", "a.b"));
    }
}
