//! Value types: `Frame` and `CloseReason`.

use bytes::Bytes;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyByteArray, PyBytes, PyString};
use wssession_core::{CloseReason, Frame, FrameType};

use crate::errors::type_error;

/// A WebSocket frame: a complete incoming message, or an outgoing frame or fragment.
#[pyclass(name = "Frame", module = "wssession._wssession", frozen)]
#[derive(Clone)]
pub struct PyFrame {
    pub(crate) inner: Frame,
}

impl From<Frame> for PyFrame {
    fn from(inner: Frame) -> Self {
        Self { inner }
    }
}

fn kind_from_opcode(opcode: i64) -> PyResult<FrameType> {
    Ok(match opcode {
        1 => FrameType::Text,
        2 => FrameType::Binary,
        8 => FrameType::Close,
        9 => FrameType::Ping,
        10 => FrameType::Pong,
        _ => return Err(PyValueError::new_err(format!("opcode must be 1, 2, 8, 9 or 10, not {opcode}"))),
    })
}

/// Payloads from this size on are sent from the caller's immutable `bytes`/`str` without a copy
/// (the frame holds a reference to the object); smaller ones are copied, which costs less than the
/// reference.
const ZERO_COPY_MIN: usize = 4 * 1024;

/// Bytes from `str` (UTF-8), `bytes`, `bytearray` or `memoryview`; `None` if it is none of them.
/// Large `bytes` and `str` (immutable) are borrowed, everything else is copied once.
pub(crate) fn bytes_like(obj: &Bound<'_, PyAny>) -> PyResult<Option<(Bytes, bool)>> {
    if let Ok(s) = obj.cast::<PyString>() {
        let utf8 = s.to_str()?;
        if utf8.len() >= ZERO_COPY_MIN {
            return Ok(Some((Bytes::from_owner(PyBackedStr::try_from(s.clone())?), true)));
        }
        return Ok(Some((Bytes::copy_from_slice(utf8.as_bytes()), true)));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        if b.as_bytes().len() >= ZERO_COPY_MIN {
            return Ok(Some((Bytes::from_owner(PyBackedBytes::from(b.clone())), false)));
        }
        return Ok(Some((Bytes::copy_from_slice(b.as_bytes()), false)));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Some((Bytes::from(b.to_vec()), false)));
    }
    if obj.is_instance_of::<pyo3::types::PyMemoryView>() {
        // One copy straight from the exporter's memory (not `tobytes()` and then a second one);
        // views of other item formats go through `tobytes()`.
        if let Ok(view) = PyBuffer::<u8>::get(obj) {
            return Ok(Some((Bytes::from(view.to_vec(obj.py())?), false)));
        }
        let b = obj.call_method0("tobytes")?;
        return Ok(Some((Bytes::copy_from_slice(b.cast::<PyBytes>()?.as_bytes()), false)));
    }
    Ok(None)
}

#[pymethods]
impl PyFrame {
    /// A frame with `opcode` (1 text, 2 binary, 9 ping, 10 pong) and `data` (str or bytes-like).
    #[new]
    #[pyo3(signature = (opcode, data=None, fin=true, rsv1=false, rsv2=false, rsv3=false))]
    fn new(
        opcode: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        fin: bool,
        rsv1: bool,
        rsv2: bool,
        rsv3: bool,
    ) -> PyResult<Self> {
        let code: i64 = opcode.extract().map_err(|_| type_error("opcode", "an int", opcode))?;
        let kind = kind_from_opcode(code)?;
        let data = match data {
            None => Bytes::new(),
            Some(d) => bytes_like(d)?.ok_or_else(|| type_error("data", "str or bytes-like", d))?.0,
        };
        if !kind.is_data() && data.len() > 125 {
            return Err(PyValueError::new_err(format!(
                "a control frame payload is at most 125 bytes, not {}",
                data.len()
            )));
        }
        Ok(Self { inner: Frame { kind, data, fin, rsv1, rsv2, rsv3 } })
    }

    /// A complete Text message.
    #[staticmethod]
    fn text(data: &Bound<'_, PyString>) -> PyResult<Self> {
        Ok(Frame::text(data.to_str()?.to_owned()).into())
    }

    /// A complete Binary message.
    #[staticmethod]
    fn binary(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        if data.is_instance_of::<PyString>() {
            return Err(type_error("data", "bytes-like", data));
        }
        let (b, _) = bytes_like(data)?.ok_or_else(|| type_error("data", "bytes-like", data))?;
        Ok(Frame::binary(b).into())
    }

    /// The wire opcode: 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    #[getter]
    fn opcode(&self) -> u8 {
        self.inner.kind.opcode()
    }

    /// The frame type name: "text", "binary", "ping", "pong" or "close".
    #[getter]
    fn frame_type(&self) -> &'static str {
        self.inner.kind.as_str()
    }

    /// The payload as bytes (for a text frame, its UTF-8 encoding).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.data)
    }

    /// The payload decoded as UTF-8.
    #[getter]
    fn text_data(&self) -> PyResult<String> {
        String::from_utf8(self.inner.data.to_vec()).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Whether this is the last frame of its message (always True for incoming messages).
    #[getter]
    fn fin(&self) -> bool {
        self.inner.fin
    }

    /// RSV1 (set on incoming compressed messages' first frame; outgoing: ask for compression).
    #[getter]
    fn rsv1(&self) -> bool {
        self.inner.rsv1
    }

    /// RSV2 (always False: no extension uses it).
    #[getter]
    fn rsv2(&self) -> bool {
        self.inner.rsv2
    }

    /// RSV3 (always False: no extension uses it).
    #[getter]
    fn rsv3(&self) -> bool {
        self.inner.rsv3
    }

    fn __len__(&self) -> usize {
        self.inner.data.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyFrame>().map(|o| o.get().inner == self.inner).unwrap_or(false)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.inner.kind.hash(&mut h);
        self.inner.data.hash(&mut h);
        self.inner.fin.hash(&mut h);
        h.finish()
    }

    fn __repr__(&self) -> String {
        let n = self.inner.data.len();
        format!("Frame(opcode={}, {} bytes, fin={})", self.inner.kind.opcode(), n, self.inner.fin)
    }
}

/// How a session ended: `code`, `reason` and `initiator` ("local", "remote" or "abnormal").
#[pyclass(name = "CloseReason", module = "wssession._wssession", frozen)]
#[derive(Clone)]
pub struct PyCloseReason {
    pub(crate) inner: CloseReason,
}

impl From<CloseReason> for PyCloseReason {
    fn from(inner: CloseReason) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyCloseReason {
    /// The close code (1005: the peer's Close had none; 1006: no Close at all).
    #[getter]
    fn code(&self) -> u16 {
        self.inner.code
    }

    /// The close reason text (may be empty).
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }

    /// Who ended the session: "local", "remote" or "abnormal".
    #[getter]
    fn initiator(&self) -> &'static str {
        self.inner.initiator.as_str()
    }

    /// What the peer did wrong when the session failed because of it (e.g. "unmasked", "too_big",
    /// "invalid_utf8", "ping_timeout"); None for every other ending.
    #[getter]
    fn violation(&self) -> Option<&'static str> {
        self.inner.violation.map(|v| v.as_str())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyCloseReason>().map(|o| o.get().inner == self.inner).unwrap_or(false)
    }

    fn __hash__(&self) -> u64 {
        u64::from(self.inner.code)
    }

    fn __repr__(&self) -> String {
        format!(
            "CloseReason(code={}, reason={:?}, initiator={:?})",
            self.inner.code,
            self.inner.reason,
            self.inner.initiator.as_str()
        )
    }
}
