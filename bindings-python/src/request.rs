//! The upgrade request (`Request`) and its case-insensitive multi-valued `Headers`.

use std::net::SocketAddr;
use std::sync::Mutex;

use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyString, PyTuple};
use wssession_core::Request;

use crate::errors::type_error;

/// HTTP headers: repeated names kept in order, case-insensitive lookups (websockets' `Headers`).
#[pyclass(name = "Headers", module = "wssession._wssession", frozen)]
pub struct PyHeaders {
    items: Mutex<Vec<(String, String)>>,
}

impl PyHeaders {
    /// Headers from (name, value) pairs.
    pub fn from_pairs(items: Vec<(String, String)>) -> Self {
        Self { items: Mutex::new(items) }
    }

    /// A copy of the (name, value) pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.items.lock().unwrap().clone()
    }
}

fn pair_from(obj: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let t = obj.cast::<PyTuple>().map_err(|_| type_error("a header", "a (name, value) tuple", obj))?;
    if t.len() != 2 {
        return Err(PyTypeError::new_err("a header must be a (name, value) tuple"));
    }
    let n = t.get_item(0)?;
    let v = t.get_item(1)?;
    Ok((
        n.extract::<String>().map_err(|_| type_error("a header name", "str", &n))?,
        v.extract::<String>().map_err(|_| type_error("a header value", "str", &v))?,
    ))
}

#[pymethods]
impl PyHeaders {
    /// Headers from a mapping, an iterable of (name, value) pairs, or nothing.
    #[new]
    #[pyo3(signature = (items=None))]
    fn new(items: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let mut out = vec![];
        if let Some(items) = items {
            if let Ok(h) = items.cast::<PyHeaders>() {
                out = h.get().pairs();
            } else if let Ok(d) = items.cast::<PyDict>() {
                for (k, v) in d.iter() {
                    out.push(pair_from(&PyTuple::new(items.py(), [k, v])?.into_any())?);
                }
            } else if items.is_instance_of::<PyString>() {
                return Err(type_error("headers", "a mapping or an iterable of (name, value) pairs", items));
            } else {
                let it = PyIterator::from_object(items)
                    .map_err(|_| type_error("headers", "a mapping or an iterable of (name, value) pairs", items))?;
                for p in it {
                    out.push(pair_from(&p?)?);
                }
            }
        }
        Ok(Self::from_pairs(out))
    }

    /// The value of `name`; KeyError if absent (the first one if repeated).
    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    /// Appends a header (like websockets: repeated names are kept).
    fn __setitem__(&self, name: String, value: String) {
        self.items.lock().unwrap().push((name, value));
    }

    /// Removes every header called `name`.
    fn __delitem__(&self, name: &str) -> PyResult<()> {
        let mut items = self.items.lock().unwrap();
        let before = items.len();
        items.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if items.len() == before {
            return Err(PyKeyError::new_err(name.to_owned()));
        }
        Ok(())
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        let Ok(name) = name.extract::<String>() else { return false };
        self.items.lock().unwrap().iter().any(|(n, _)| n.eq_ignore_ascii_case(&name))
    }

    fn __len__(&self) -> usize {
        self.items.lock().unwrap().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let names: Vec<String> = self.items.lock().unwrap().iter().map(|(n, _)| n.clone()).collect();
        PyList::new(py, names)?.try_iter()
    }

    /// The first value of `name`, or `default`.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.__getitem__(name) {
            Ok(v) => Ok(PyString::new(py, &v).into_any().unbind()),
            Err(_) => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Every value of `name`, in order.
    fn get_all(&self, name: &str) -> Vec<String> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// All (name, value) pairs in order.
    fn raw_items(&self) -> Vec<(String, String)> {
        self.pairs()
    }

    /// All (name, value) pairs in order.
    fn items(&self) -> Vec<(String, String)> {
        self.pairs()
    }

    /// A copy.
    fn copy(&self) -> Self {
        Self::from_pairs(self.pairs())
    }

    fn __repr__(&self) -> String {
        format!("Headers({:?})", self.pairs())
    }

    fn __str__(&self) -> String {
        self.pairs().iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect::<String>() + "\r\n"
    }
}

/// The HTTP upgrade request a session was opened with (websockets' `Request`, Ktor's `call`).
#[pyclass(name = "Request", module = "wssession._wssession", frozen)]
pub struct PyRequest {
    pub(crate) inner: Request,
    /// `headers`: made on first use.
    headers: pyo3::sync::PyOnceLock<Py<PyHeaders>>,
}

impl PyRequest {
    /// Wraps a core request.
    pub fn new(inner: Request) -> Self {
        Self { inner, headers: pyo3::sync::PyOnceLock::new() }
    }
}

/// `(host, port)` of a socket address.
pub fn addr_tuple(a: &SocketAddr) -> (String, u16) {
    (a.ip().to_string(), a.port())
}

#[pymethods]
impl PyRequest {
    /// Parses an HTTP request head (as a host that reads the upgrade request itself has it):
    /// ``(request, head_length)`` once ``data`` holds the whole head, None while it does not;
    /// ValueError for a malformed head.
    #[staticmethod]
    #[pyo3(signature = (data, remote_address=(String::from("0.0.0.0"), 0), local_address=(String::from("0.0.0.0"), 0)))]
    fn parse(
        data: &[u8],
        remote_address: (String, u16),
        local_address: (String, u16),
    ) -> PyResult<Option<(Self, usize)>> {
        let (remote, local) = (crate::host::socket_addr(&remote_address), crate::host::socket_addr(&local_address));
        match wssession_core::handshake::parse_head(data, 16 << 10, 100, remote, local) {
            Ok(Some((request, n))) => Ok(Some((Self::new(request), n))),
            Ok(None) => Ok(None),
            Err(e) => Err(pyo3::exceptions::PyValueError::new_err(format!("malformed request head: {e:?}"))),
        }
    }

    /// The request path including the query string ("/chat?room=1"), as in websockets.
    #[getter]
    #[allow(clippy::misnamed_getters)] // websockets' `path` is the whole target
    fn path(&self) -> &str {
        &self.inner.target
    }

    /// The request path without the query string ("/chat"), as Ktor's `call.request.path()`.
    #[getter]
    fn path_without_query(&self) -> &str {
        &self.inner.path
    }

    /// The request target as sent ("/chat?room=1").
    #[getter]
    fn target(&self) -> &str {
        &self.inner.target
    }

    /// The query string without "?", or None.
    #[getter]
    fn query(&self) -> Option<&str> {
        self.inner.query.as_deref()
    }

    /// The HTTP method ("GET").
    #[getter]
    fn method(&self) -> &str {
        &self.inner.method
    }

    /// The request headers.
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<PyHeaders>> {
        let h = self.headers.get_or_try_init(py, || {
            let pairs = self.inner.headers.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
            Py::new(py, PyHeaders::from_pairs(pairs))
        })?;
        Ok(h.clone_ref(py))
    }

    /// The peer's (host, port).
    #[getter]
    fn remote_address(&self) -> (String, u16) {
        addr_tuple(&self.inner.remote_addr)
    }

    /// Our (host, port) the peer connected to.
    #[getter]
    fn local_address(&self) -> (String, u16) {
        addr_tuple(&self.inner.local_addr)
    }

    /// Whether the connection uses TLS.
    #[getter]
    fn tls(&self) -> bool {
        self.inner.tls
    }

    /// The subprotocol chosen for the session, if any (None before the handshake completes).
    #[getter]
    fn subprotocol(&self) -> Option<&str> {
        self.inner.subprotocol.as_deref()
    }

    /// The negotiated Sec-WebSocket-Extensions value ("" when none).
    #[getter]
    fn extensions(&self) -> &str {
        &self.inner.extensions
    }

    /// Subprotocols the client offered, in its order.
    #[getter]
    fn offered_subprotocols(&self) -> Vec<String> {
        self.inner.offered_subprotocols()
    }

    fn __repr__(&self) -> String {
        format!("Request({} {})", self.inner.method, self.inner.target)
    }
}
