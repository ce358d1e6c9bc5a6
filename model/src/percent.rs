//! Percent-encoding, as URLs' query values and path segments take it (PromQL selectors,
//! SigV4's canonical request).

/// `s` with every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - _ . ~`) as `%XX`
/// (upper-case hex), as a URL's query value or path segment takes it.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
