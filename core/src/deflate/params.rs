//! Parsing client offers and choosing the response (RFC 7692 §7.1).

use super::DeflateConfig;

/// The parameters both sides agreed on for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateParams {
    /// We reset our compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message (we may reset our inflater too).
    pub client_no_context_takeover: bool,
    /// Our compressor's window bits.
    pub server_max_window_bits: u8,
    /// The client's window bits, when the response limits it.
    pub client_max_window_bits: Option<u8>,
    /// Compression level, from the server configuration.
    pub level: u32,
    /// zlib memory level (1–9), from the server configuration.
    pub mem_level: u8,
    /// Messages under this size go uncompressed.
    pub threshold: usize,
    /// Limit on inflated messages (`None`: the session's max frame size).
    pub max_inflated_size: Option<usize>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` response value.
    pub fn response_header(&self) -> String {
        let mut out = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            out.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        if let Some(bits) = self.client_max_window_bits {
            out.push_str(&format!("; client_max_window_bits={bits}"));
        }
        out
    }
}

impl DeflateParams {
    /// The parameters a `Sec-WebSocket-Extensions` *response* value agreed on (what a host that wrote
    /// the 101 itself sent), with level, memory level, threshold and inflate limit from `config`.
    /// "" means no extension (`None`); anything but one well-formed permessage-deflate element is
    /// refused, since the session could not speak it.
    pub fn from_response_header(value: &str, config: &DeflateConfig) -> crate::Result<Option<DeflateParams>> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let bad = |why: &str| crate::Error::invalid(format!("extensions {value:?}: {why}"));
        let elements = split_outside_quotes(value, ',');
        if elements.len() > 1 {
            return Err(bad("only one extension (permessage-deflate) can be started"));
        }
        let mut parts = split_outside_quotes(elements[0], ';');
        if !parts.remove(0).trim().eq_ignore_ascii_case("permessage-deflate") {
            return Err(bad("the only extension a session speaks is permessage-deflate"));
        }
        let offer = parse_offer(&parts).ok_or_else(|| bad("malformed permessage-deflate parameters"))?;
        let client_bits = match offer.client_max_window_bits {
            None => None,
            Some(Some(bits)) => Some(bits),
            Some(None) => return Err(bad("client_max_window_bits needs a value in a response")),
        };
        Ok(Some(DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover,
            server_max_window_bits: offer.server_max_window_bits.unwrap_or(15),
            client_max_window_bits: client_bits,
            level: config.level.min(9),
            mem_level: config.mem_level.clamp(1, 9),
            threshold: config.threshold,
            max_inflated_size: config.max_inflated_size,
        }))
    }
}

#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

fn window_bits(v: Option<&str>) -> Option<u8> {
    let v = unquote(v?);
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
        return None;
    }
    v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))
}

/// Parses one `permessage-deflate; a; b=c` element; `None` when it is malformed.
fn parse_offer(params: &[&str]) -> Option<Offer> {
    let mut offer = Offer::default();
    for p in params {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (p.trim(), None),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() && !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true
            }
            "client_no_context_takeover" if value.is_none() && !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true
            }
            "server_max_window_bits" if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(value)?)
            }
            "client_max_window_bits" if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(match value {
                    None => None,
                    Some(v) => Some(window_bits(Some(v))?),
                })
            }
            _ => return None,
        }
    }
    Some(offer)
}

/// Splits a header value on `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = vec![];
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Picks the first acceptable permessage-deflate offer among the `Sec-WebSocket-Extensions` values.
/// Malformed offers and other extensions are skipped, never an error.
pub fn negotiate<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<DeflateParams> {
    if !config.enabled {
        return None;
    }
    for value in header_values {
        for element in split_outside_quotes(value, ',') {
            let mut parts = split_outside_quotes(element, ';');
            let name = parts.remove(0).trim();
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            let Some(offer) = parse_offer(&parts) else { continue };
            if let Some(params) = accept(&offer, config) {
                return Some(params);
            }
        }
    }
    None
}

fn accept(offer: &Offer, config: &DeflateConfig) -> Option<DeflateParams> {
    let own = config.server_max_window_bits.clamp(9, 15);
    // An offer of 8 is accepted as 8: zlib cannot compress within a 256-byte window, so such a session
    // sends its messages uncompressed by default and as stored blocks when compression is forced
    // (see `Deflater`); the client's compressed messages are still inflated.
    let server_bits = offer.server_max_window_bits.map_or(own, |asked| asked.min(own));
    let client_bits = match offer.client_max_window_bits {
        None => None,
        Some(offered) => {
            let limit = offered.unwrap_or(15).min(config.client_max_window_bits.clamp(8, 15));
            (limit < 15 || offered.is_some()).then_some(limit)
        }
    };
    Some(DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover || config.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        level: config.level.min(9),
        mem_level: config.mem_level.clamp(1, 9),
        threshold: config.threshold,
        max_inflated_size: config.max_inflated_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg(values: &[&str]) -> Option<String> {
        negotiate(values.iter().copied(), &DeflateConfig::enabled()).map(|p| p.response_header())
    }

    #[test]
    fn plain_offer_is_accepted_with_defaults() {
        assert_eq!(neg(&["permessage-deflate"]).as_deref(), Some("permessage-deflate"));
    }

    #[test]
    fn browser_offer_gets_client_window_bits_echoed() {
        assert_eq!(neg(&["permessage-deflate; client_max_window_bits"]).as_deref(), Some("permessage-deflate"));
        assert_eq!(
            neg(&["permessage-deflate; client_max_window_bits=10"]).as_deref(),
            Some("permessage-deflate; client_max_window_bits=10")
        );
    }

    #[test]
    fn parameters_are_honoured() {
        assert_eq!(
            neg(&["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"]).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
        );
    }

    #[test]
    fn malformed_offers_are_declined_and_the_next_one_is_taken() {
        assert_eq!(neg(&["permessage-deflate; server_max_window_bits=16"]), None);
        assert_eq!(neg(&["permessage-deflate; server_max_window_bits"]), None);
        assert_eq!(neg(&["permessage-deflate; foo=1"]), None);
        assert_eq!(neg(&["permessage-deflate; client_no_context_takeover; client_no_context_takeover"]), None);
        assert_eq!(
            neg(&["permessage-deflate; bogus, permessage-deflate; client_no_context_takeover"]).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        assert_eq!(neg(&["x-webkit-deflate-frame", "permessage-deflate"]).as_deref(), Some("permessage-deflate"));
    }

    #[test]
    fn a_256_byte_server_window_is_accepted_rather_than_declined() {
        assert_eq!(
            neg(&["permessage-deflate; server_max_window_bits=8"]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=8")
        );
        assert_eq!(
            neg(&["permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8")
        );
    }

    #[test]
    fn a_response_header_gives_back_the_parameters_it_was_made_from() {
        let cfg = DeflateConfig::enabled();
        let offer =
            ["permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits"];
        let params = negotiate(offer, &cfg).unwrap();
        let parsed = DeflateParams::from_response_header(&params.response_header(), &cfg).unwrap();
        assert_eq!(parsed, Some(params));
        assert_eq!(DeflateParams::from_response_header("", &cfg).unwrap(), None);
        for bad in ["x-webkit-deflate-frame", "permessage-deflate, permessage-deflate", "permessage-deflate; foo"] {
            assert!(DeflateParams::from_response_header(bad, &cfg).is_err(), "{bad}");
        }
        assert!(DeflateParams::from_response_header("permessage-deflate; client_max_window_bits", &cfg).is_err());
    }

    #[test]
    fn disabled_config_never_negotiates() {
        assert_eq!(negotiate(["permessage-deflate"], &DeflateConfig::default()), None);
    }
}
