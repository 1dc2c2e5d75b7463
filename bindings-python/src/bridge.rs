//! Glue to the Python side: the pure-Python helpers, logging, and the asyncio bridge.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::future::Future;

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static FINALIZING: AtomicBool = AtomicBool::new(false);
/// Runtime threads currently inside (or about to enter) `attach`.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Called at interpreter exit (atexit, before finalization starts): from then on runtime threads no
/// longer call into Python, and the calls already under way are waited for (up to 5 s), so no
/// thread holds or awaits the GIL while the interpreter is torn down. Every call from a runtime
/// thread goes through [`attach`] (futures too: [`future_into_py`]), so this accounting is complete.
#[pyfunction]
pub fn _finalize(py: Python<'_>) {
    FINALIZING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ACTIVE.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Whether the interpreter is exiting (runtime threads must not attach any more).
pub fn finalizing() -> bool {
    FINALIZING.load(Ordering::SeqCst)
}

struct Active;

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A Python thread state kept for the life of a runtime thread.
///
/// Without it every `attach` from a runtime thread creates and deletes a thread state (and with it
/// the interpreter's frame stack: an mmap, page faults and an munmap per callback).
struct Pinned(Option<(*mut pyo3::ffi::PyThreadState, pyo3::ffi::PyGILState_STATE)>, bool);

impl Pinned {
    /// On this thread's first `attach`: on a runtime thread, creates its state (see `pin`).
    fn ensure(&mut self) {
        if !std::mem::replace(&mut self.1, true) && wssession_core::runtime::on_runtime_thread() {
            self.pin();
        }
    }

    /// Creates this thread's state once (GIL taken and released right away; the state stays).
    fn pin(&mut self) {
        // SAFETY: reads this thread's registered state; a thread that has one (Python's own threads,
        // or an attached one) is left alone.
        if self.0.is_none() && unsafe { pyo3::ffi::PyGILState_GetThisThreadState() }.is_null() {
            // SAFETY: the interpreter is running (checked by the caller under ACTIVE) and this thread
            // is not attached; Ensure attaches it with a new thread state, SaveThread detaches it
            // again keeping that state registered for the thread, so later Ensure calls reuse it.
            unsafe {
                let g = pyo3::ffi::PyGILState_Ensure();
                let ts = pyo3::ffi::PyEval_SaveThread();
                self.0 = Some((ts, g));
            }
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let Some((ts, g)) = self.0.take() else { return };
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        let _active = Active;
        if finalizing() {
            return; // the interpreter reclaims the state at finalization
        }
        // SAFETY: `ts` is this thread's state saved by `ensure`; releasing `g` deletes it.
        unsafe {
            pyo3::ffi::PyEval_RestoreThread(ts);
            pyo3::ffi::PyGILState_Release(g);
        }
    }
}

/// Decrements this thread's `attach` nesting depth.
struct Depth;

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get() - 1);
    }
}

thread_local! {
    /// How many `attach` calls are under way on this thread.
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static PINNED: std::cell::RefCell<Pinned> = const { std::cell::RefCell::new(Pinned(None, false)) };
}

/// Runs `f` attached to the interpreter from a runtime thread, unless the interpreter is exiting.
pub fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    let _active = Active;
    if finalizing() {
        return None;
    }
    // Not when this thread is already attached (a nested call): its state exists anyway.
    // Only on runtime threads (checked once per thread), from their outermost `attach`: an attached
    // thread is never detached here.
    if DEPTH.get() == 0 {
        let _ = PINNED.try_with(|p| p.borrow_mut().ensure());
    }
    DEPTH.set(DEPTH.get() + 1);
    let _depth = Depth;
    Some(Python::attach(f))
}

static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `wssession._types` module (State, the default JSON converter, helpers).
pub fn types(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    TYPES.get_or_try_init(py, || Ok::<_, PyErr>(py.import("wssession._types")?.unbind())).map(|m| m.bind(py))
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The running asyncio loop (`asyncio.get_running_loop()`; RuntimeError outside of one).
pub fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    GET_RUNNING_LOOP
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind()))?
        .bind(py)
        .call0()
}

/// Logs `err` with its traceback on the `wssession.server` logger.
pub fn log_error(py: Python<'_>, message: &str, err: PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("wssession.server",))?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("exc_info", err.clone_ref(py).into_value(py))?;
        logger.call_method("error", (message,), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        err.print(py);
    }
}

/// Runs `fut` on the runtime; returns an asyncio future of the running loop that resolves with its
/// outcome (RuntimeError outside a running loop). Cancelling the asyncio future aborts `fut`.
///
/// The outcome is handed to the loop with `call_soon_threadsafe` from inside [`attach`], so the
/// exit accounting of [`_finalize`] covers it (unlike pyo3-async-runtimes' own completions).
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    let event_loop = running_loop(py)?;
    let py_fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let target = (event_loop.unbind(), py_fut.clone().unbind());
    let task = wssession_core::runtime::spawn(async move {
        let outcome = fut.await;
        attach(move |py| {
            let (event_loop, py_fut) = target;
            let (ok, value) = match outcome.and_then(|v| v.into_py_any(py)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            let scheduled = RESOLVE
                .get_or_try_init(py, || Ok::<_, PyErr>(wrap_pyfunction!(_resolve, py)?.into_any().unbind()))
                .and_then(|resolve| {
                    event_loop.call_method1(py, pyo3::intern!(py, "call_soon_threadsafe"), (resolve, py_fut, ok, value))
                });
            // RuntimeError: the loop is closed, nobody waits for the outcome any more.
            drop(scheduled);
        });
    });
    let abort = Abort { handle: task.abort_handle() };
    py_fut.call_method1(pyo3::intern!(py, "add_done_callback"), (abort,))?;
    Ok(py_fut)
}

static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Resolves `fut` with `value` (or fails it with the exception `value`), unless it was cancelled.
#[pyfunction]
fn _resolve(fut: &Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if fut.call_method0(pyo3::intern!(fut.py(), "done"))?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { pyo3::intern!(fut.py(), "set_result") } else { pyo3::intern!(fut.py(), "set_exception") };
    fut.call_method1(method, (value,))?;
    Ok(())
}

/// A done-callback aborting the runtime task of a cancelled future.
#[pyclass(module = "wssession._wssession", frozen)]
struct Abort {
    handle: tokio::task::AbortHandle,
}

#[pymethods]
impl Abort {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0(pyo3::intern!(fut.py(), "cancelled"))?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}
