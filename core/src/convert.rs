//! Typed messages: a converter turns values into frames and back (JSON by default).

use std::sync::{Arc, LazyLock};

use crate::error::{Error, Result};
use crate::protocol::Frame;

/// Turns values into frames and frames into values for `send_serialized`/`receive_deserialized`.
pub trait Converter: Send + Sync {
    /// Encodes a value as one frame.
    fn serialize(&self, value: &serde_json::Value) -> Result<Frame>;
    /// Decodes a frame; failures are [`Error::Deserialize`] carrying the frame.
    fn deserialize(&self, frame: &Frame) -> Result<serde_json::Value>;
}

/// JSON in Text frames (it also reads JSON from Binary frames).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonConverter;

impl Converter for JsonConverter {
    fn serialize(&self, value: &serde_json::Value) -> Result<Frame> {
        Ok(Frame::text(value.to_string()))
    }

    fn deserialize(&self, frame: &Frame) -> Result<serde_json::Value> {
        if !frame.kind.is_data() {
            return Err(Error::Deserialize { frame: Box::new(frame.clone()), message: "not a data frame".into() });
        }
        serde_json::from_slice(&frame.data)
            .map_err(|e| Error::Deserialize { frame: Box::new(frame.clone()), message: e.to_string() })
    }
}

/// The default converter: one instance shared by every session, so a session allocates none.
pub(crate) fn json() -> Arc<dyn Converter> {
    static JSON: LazyLock<Arc<dyn Converter>> = LazyLock::new(|| Arc::new(JsonConverter));
    JSON.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FrameType;

    #[test]
    fn json_roundtrip_and_errors_carry_the_frame() {
        let c = JsonConverter;
        let f = c.serialize(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(f.kind, FrameType::Text);
        assert_eq!(c.deserialize(&f).unwrap(), serde_json::json!({"a": 1}));
        match c.deserialize(&Frame::text("{nope")) {
            Err(Error::Deserialize { frame, .. }) => assert_eq!(frame.data, "{nope"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
